"""MS-SAR and SE inside the backbone: what they cost, and what they do for a GAP or a Wise-SrNet head on CPU.

    python benchmarks/recalibration.py --part overhead      # parameters, FLOPs, training and inference steps (minutes)
    python benchmarks/recalibration.py --part study         # Fashion-MNIST, 3 seeds (about 1.5 h on 1 CPU thread)
    python benchmarks/recalibration.py --part study --report A/recalibration_study.csv B/recalibration_study.csv
    python benchmarks/recalibration.py --smoke              # every code path in a minute; writes nothing

**Overhead.** ResNet-50 and DenseNet-121 (timm, 1000 classes) plain, with timm's SE and with MS-SAR
(`add_recalibration`, each at its default placement: SE at its site on every residual branch's output and every dense
layer's new features, MS-SAR `narrow`: in every bottleneck after its 3×3 convolution, and on every dense block's
input), and MS-SAR at SE's site (`ms_sar, output`, its placement before December 2026): parameters, and the
multiply-adds of the convolutions and matrix products of one 224 px image (PyTorch's `FlopCounterMode`; it does not count element-wise work such as the gates' sigmoid and
product, which the step times include). Step times on a batch of `--bs` images of `--step-size` px, one torch thread:
a training step (forward, backward and an SGD step) and an inference step (eval-mode forward under `no_grad`), the
models interleaved `--repeats` times, in each memory format of `--memory-formats`: `contiguous` (NCHW, as timm
creates a model) and `channels_last` (model and batch converted alike for all; what `wise_learner` trains in,
its `WiseDL` making channels-last batches). Ratios against the plain backbone, measured side by side within each
repeat (medians over repeats).

**Study.** Fashion-MNIST (the full dataset when installed, else the sample shipped with wisefast) at `--size` px,
`--n-train` images per class, scored on the whole test split; from scratch, fastai's `fit_one_cycle(--epochs)` at
its default lr (Adam), batches of 64, no augmentation. Backbones: timm's `test_resnet` (a ResNet of BasicBlocks with
tiny widths, one bottleneck), the same with a bottleneck in every stage, and a small DenseNet (`densenet121` with
growth 12, blocks (2, 2, 2, 2), bottleneck 2× growth). Every (recalibration, head) pair with the same seed sees the
same batches. Backbones or seeds can run in separate processes (`--backbones`; `--first-seed`, `--seeds`; each
with its own `--out`; `--variants` reruns some recalibrations only); `--report` makes the table from their CSVs.
"""
import argparse, os, shlex, statistics, sys, time
from functools import partial
from pathlib import Path
import pandas as pd, torch
from timm.models.resnet import Bottleneck

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fastai_workflows import seeded_runs, add_study_args, fashion_mnist, mean_sd, mean_se, _write

VARIANTS = {'none': {}, 'se': dict(recalibration='se'), 'ms_sar': dict(recalibration='ms_sar'),   # default placements
            'ms_sar, output': dict(recalibration='ms_sar', recalibration_placement='output')}  # MS-SAR at SE's site
SMALL_DENSENET = dict(growth_rate=12, block_config=(2, 2, 2, 2), bn_size=2)
BACKBONES = {'test_resnet': ('test_resnet', {}), 'bottleneck test_resnet': ('test_resnet', dict(block=Bottleneck)),
             'small DenseNet': ('densenet121', SMALL_DENSENET)}

def _command(): return ' '.join(['python benchmarks/recalibration.py', *map(shlex.quote, sys.argv[1:])])

# ------------------------------------------------------------------------------------------------------------ overhead
MEMORY_FORMATS = {'contiguous': torch.contiguous_format, 'channels_last': torch.channels_last}
NOTES = """### Notes: what was tried to make MS-SAR cheap

Items 1-4 and the bullets after them were measured with the gates at SE's site (now `placement='output'`); the last
paragraph is the placement that met the targets.

Measured during development (December 2026) as in the table above: training step and inference step / plain, the
median of 11 interleaved repeats, ResNet-50 then DenseNet-121, with the module as it was (the formula through
autograd, kept as `ReferenceMSSAR` in `tests/test_recalibration.py`) and each change in the same run. The machine was
a 2-core CPU shared with two other single-threaded jobs (load average 4-6) for every measurement here and in the
table: ratios are side by side within each repeat, but absolute times are inflated and ratios move by a few hundredths
between runs (SE: 1.07-1.14× on ResNet-50 across runs).

A profile of the old module on one ResNet-50 layer-1 map (8×256×28×28, forward and backward, one thread) put the time
in the depthwise kernels (their backward above all), the average pool and its backward (2.5 ms each on NCHW maps: on
this CPU, NCHW pooling, upsampling and depthwise kernels run 5-10× slower than channels-last), a dozen full-map
multiplications and additions (broadcasting the per-channel terms, accumulating gradients), the upsampling and
`sigmoid`'s backward: each a separate pass over memory, most into newly allocated tensors.

| change, one at a time | ResNet-50 train | DenseNet-121 train | ResNet-50 inference | DenseNet-121 inference |
|---|---|---|---|---|
| 1. channels-last models, all three alike (old module) | 1.48 → 1.34× | 1.18 → 1.17× | 1.64 → 1.30× | 1.23 → 1.17× |
| 2. the coarse scale at its own resolution, the per-channel terms added there, the upsampling as an in-place addition into the map's 2×2 blocks; still through autograd (channels-last) | 1.34 → 1.45× (worse) | 1.17 → 1.20× (worse) | 1.30 → 1.25× | 1.17 → 1.16× |
| 3. 2 with a hand-written backward (`_Gate`, what `MSSAR` now does; channels-last) | 1.34 → 1.23× | 1.17 → 1.18× (no gain) | 1.30 → 1.21× | 1.17 → 1.15× |
| 4. channels-last inside the gate in NCHW models (part of `_Gate`) | 1.48 → 1.27× | 1.18 → 1.15× | 1.64 → 1.36× | 1.23 → 1.18× |

- 2 did not help training: autograd's backward of a broadcasting addition into a view reduces over strided blocks
  and copies, slower than the upsampling it replaced. It is kept inside 3, whose backward adds into the blocks itself.
- 3: the gate is one in-place `sigmoid_` and one `addcmul` (`2·x·σ(z)`, the 2 as its scalar); the backward computes
  `2·dy·x·σ'(z)` in two passes (`sigmoid_backward` in place), one depthwise backward per scale, the pooling's and
  the mean's backward added into the 2×2 blocks in place, `2·dy·σ(z)` last, and it keeps `x`, `σ(z)` and the pooled
  map, not autograd's intermediates. One gate on a layer-1 map, forward and backward, interleaved: about half the
  time (1.6-2.0× faster across runs, e.g. 26 → 13 ms channels-last).
- 4: the four conversions (input, output, gradient in and out) cost about as much as the gate's own passes.
- `torch.compile` of the element-wise gate (inductor, CPU): 14.5 s to compile one shape, then 2.5 ms against 1.1 ms
  eager on a layer-1 map and 43 µs against 7 µs on a DenseNet map (8×32×7×7). Not used.
- One depthwise call for both scales (the pooled map zero-padded to the full size and concatenated along channels):
  one gate on 8×32×7×7 0.61 → 0.59 ms, on 8×32×28×28 1.64 → 2.27 ms, on 8×1024×7×7 2.7 → 7.9 ms. Not used.
- The gate at half resolution (a formulation change, prototyped December 2026 and not kept): scales (2, 4) and the
  global mean only, no full-resolution depthwise kernel, `2σ(z)` computed on the 2×-pooled map and applied per 2×2
  block (`x·g↑2` through block views, one pass each way; the coarse graph through autograd inside a hand-written
  backward). Same benchmark, 11 interleaved repeats, channels-last, load average 3-3.5: ResNet-50 training
  1.27× against 1.21× for `MSSAR` in the same run, inference 1.02× against 1.14×; DenseNet-121 training 1.16× against
  1.24×, inference 1.13× against 1.14×. On one gate the full-resolution passes it keeps (pooling, the product, its two
  backward passes, the added gradient) cost about what the depthwise kernel it removes did, and on DenseNet's small maps
  the extra pooling and upsampling calls cost more than they save. Training is no cheaper on ResNet-50 and it changes
  what the module computes (per-block rather than per-neuron importance), so `MSSAR` keeps its formulation.

**At SE's site the targets (training step ≤ 1.10× on ResNet-50, ≤ 1.05× on DenseNet-121) were not met** (the
table's `ms_sar, output` rows). What was left, from a profile of whole training steps: on ResNet-50 about 2.4 ms forward
and 4.7 ms backward per gate on average (16 gates), about nine passes over each full-resolution map (6.4 MB on
layer 1) and one depthwise kernel forward and backward per scale; in isolation the depthwise kernels alone take about
20 ms per step and the passes about 30 ms, about 1.10× before any overhead, and inside the model each op runs slower
than alone (tensors freshly allocated, caches cold). On DenseNet-121, 58 gates on maps of 32 channels, each gate's
four oneDNN depthwise calls cost at least about 35 µs (forward) and 90 µs (backward) each, even on 3×3 maps: 0.25 ms
a gate, 15 ms a step, which is all that 1.05× allows (SE's whole gate: about 0.3 ms).

**Placement (December 2026): the targets met.** A gate costs passes over the elements of the map it sits on, plus a
fixed cost per call, so what pays is a smaller map and fewer gates, not faster passes. MS-SAR's default placement is
now `narrow` (`add_recalibration(..., placement='narrow')`): in a bottleneck the gate sits after the 3×3 convolution,
on the block's width (64-512 channels in ResNet-50) rather than its output (256-2048), a quarter of the elements at
the same resolution; in DenseNet once per dense block, on its input (the stem's or a transition's output, 64-512
channels: 4 gates in DenseNet-121), rather than on the new features of each of its 58 layers, which paid each gate's
fixed cost. In the table (21 interleaved repeats, channels-last): a training step **1.06× on ResNet-50 and 1.02× on
DenseNet-121** (SE 1.09× and 1.05× in the same run), inference 1.03× and 1.02×, against 1.18× and 1.14× for MS-SAR at
SE's site. The module is unchanged (the same gate for the same map); where it sits changes what the network computes,
so the accuracy study was run again for both placements (`recalibration_study.md`). Prototyped and not kept (same
setting, 15 interleaved repeats, channels-last): DenseNet's gate on each dense block's output (the concatenation
before the transition, 256-1024 channels), 1.05× against 1.00× on the input (SE 1.05×); and in a basic block, whose
maps are all as wide (no cheaper site), the gate after the first convolution: in the study's `test_resnet` it
trained -0.35 ± 0.15 (GAP head) and -0.13 ± 0.15 points (Wise-SrNet head) against SE's site (paired, 3 seeds, the
study's setting), so `narrow` leaves a basic block's gate at SE's site.
"""

def _model(arch, recalibration=None, recalibration_placement=None):
    import timm
    from wisefast.recalibration import add_recalibration
    m = timm.create_model(arch)
    return add_recalibration(m, recalibration, recalibration_placement) if recalibration else m

def macs(model, size) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc, torch.no_grad(): model.eval()(torch.zeros(1, 3, size, size))
    return fc.get_total_flops() / 2

def step_time(model, x, y) -> float:
    "Seconds of one training step: forward, backward and an SGD step"
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()
    t = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward(); opt.step(); opt.zero_grad()
    return time.perf_counter() - t

def inference_time(model, x) -> float:
    "Seconds of one eval-mode forward under `no_grad`"
    model.eval()
    t = time.perf_counter()
    with torch.no_grad(): model(x)
    return time.perf_counter() - t

def _ratio(times, base) -> str:
    r = [t / b for t, b in zip(times, base)]
    return f"{statistics.median(r):.2f}× ({min(r):.2f}–{max(r):.2f})"

def step_rows(arch, models, fmt, a) -> list:
    "Training- and inference-step times of `models` in memory format `fmt`, interleaved `a.repeats` times"
    models = {k: m.to(memory_format=MEMORY_FORMATS[fmt]) for k, m in models.items()}
    x = torch.rand(a.bs, 3, a.step_size, a.step_size).contiguous(memory_format=MEMORY_FORMATS[fmt])
    y = torch.randint(0, 1000, (a.bs,))
    for m in models.values(): step_time(m, x, y); inference_time(m, x)      # warm-up
    train, infer = ({k: [] for k in models} for _ in range(2))
    for _ in range(a.repeats):
        for k, m in models.items(): train[k].append(step_time(m, x, y))
        for k, m in models.items(): infer[k].append(inference_time(m, x))
    return [{'backbone': arch, 'memory format': fmt, 'recalibration': k,
             'train step (s)': f"{statistics.median(train[k]):.3f}", 'train step / plain': _ratio(train[k], train['none']),
             'inference (s)': f"{statistics.median(infer[k]):.3f}", 'inference / plain': _ratio(infer[k], infer['none'])}
            for k in models]

def overhead(a) -> str:
    size_rows, time_rows = [], []
    for arch in a.archs:
        models = {k: _model(arch, **kw) for k, kw in VARIANTS.items()}
        base_p, base_f = sum(p.numel() for p in models['none'].parameters()), macs(models['none'], 224)
        for k, m in models.items():
            p, f = sum(q.numel() for q in m.parameters()), macs(m, 224)
            size_rows.append({'backbone': arch, 'recalibration': k, 'parameters': f"{p / 1e6:.2f} M",
                              'extra parameters': f"{100 * (p - base_p) / base_p:+.1f}%",
                              'GMACs (224 px)': f"{f / 1e9:.3f}", 'extra MACs': f"{100 * (f - base_f) / base_f:+.1f}%"})
        for fmt in a.memory_formats:
            time_rows += step_rows(arch, models, fmt, a)
            for r in time_rows[-len(VARIANTS):]: print(r, flush=True)
    table = lambda rows: pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)
    return (f"## Overhead\n\n{table(size_rows)}\n\nStep times: batch of {a.bs} at {a.step_size} px, {a.repeats} "
            f"interleaved repeats, {a.threads} torch thread(s); a training step is forward, backward and an SGD step, an "
            f"inference step an eval-mode forward under `no_grad`; `channels_last`: model and batch converted alike for "
            f"every model. The ratio is the median of per-repeat ratios (range in brackets).\n\n{table(time_rows)}\n\n"
            f"Reproduce: `{_command()}`\n\n{NOTES}")

# --------------------------------------------------------------------------------------------------------------- study
def study_run(dls, test, backbone, recalibration, head, epochs) -> dict:
    "Train `backbone` with the `recalibration` variant and `head` from scratch; its test accuracy"
    from fastai.metrics import accuracy
    from wisefast.learner import wise_learner
    arch, kw = BACKBONES[backbone]
    learn = wise_learner(dls, arch, head=head, pretrained=False, metrics=accuracy, **VARIANTS[recalibration], **kw)
    learn.fit_one_cycle(epochs)
    return dict(accuracy=float(learn.validate(dl=learn.dls.test_dl(test, with_labels=True))[1]))

def study(a):
    configs = [dict(backbone=b, recalibration=k, head=h) for b in a.backbones for k in a.variants for h in a.heads]
    return seeded_runs(a, configs, partial(study_run, epochs=a.epochs))

def study_markdown(df, info, a) -> str:
    "The study's table: accuracy per variant, and paired differences (to none; MS-SAR's placements to each other)"
    kinds = [k for k in VARIANTS if k in set(df.recalibration)]
    deltas = [k for k in kinds if k != 'none'] if 'none' in kinds else []
    placements = {'ms_sar', 'ms_sar, output'} <= set(kinds)
    lines = ["## Fashion-MNIST from scratch: none / SE / MS-SAR, each with a GAP and a Wise-SrNet head", "",
             f"Fashion-MNIST ({info['where']}), {a.n_train} training images per class, {info['n_test']} test images, "
             f"{a.size} px, `fit_one_cycle({a.epochs})` at fastai's default lr, {df.seed.nunique()} seeds; "
             f"{info['minutes']:.0f} CPU-minutes, {a.threads} torch thread(s) a process. `bottleneck test_resnet` is "
             "timm's `test_resnet` with a bottleneck in every stage (`block=Bottleneck`), where MS-SAR's default "
             "placement (`narrow`: on the bottleneck's width) and SE's site (`output`) differ in the channels they "
             "gate (in `test_resnet` only its one bottleneck does; a basic block's gate is at SE's site either way). "
             "Test accuracy, mean ± sd (per seed); Δ: paired difference to no recalibration with the same head and "
             "seed, mean (SE), points; the last column MS-SAR's default placement against SE's site, paired.", ""]
    cols = [*kinds, *(f'Δ {k}' for k in deltas), *(['ms_sar − ms_sar, output'] if placements else [])]
    lines += [f"| backbone | head | {' | '.join(cols)} |", '|' + '---|' * (len(cols) + 2)]
    acc = df.set_index(['backbone', 'head', 'seed', 'recalibration']).accuracy.unstack()
    for bb, head in [(b, h) for b in BACKBONES for h in a.heads if (b, h) in acc.index.droplevel(2)]:
        d = acc.loc[(bb, head)]
        delta = lambda k, base='none': "{:+.2f} ({:.2f})".format(*mean_se(100 * (d[k] - d[base])))
        cells = [*(mean_sd(d[k]) for k in kinds), *(delta(k) for k in deltas),
                 *([delta('ms_sar', 'ms_sar, output')] if placements else [])]
        lines.append(f"| {bb} | {head} | {' | '.join(cells)} |")
    runs = a.runs or "`python benchmarks/recalibration.py --part study --backbones B --out DIR`, one process per backbone"
    lines += ["", f"Reproduce: the runs ({runs}; a run in a later CSV replaces the same run in an earlier one), then the "
                  f"table from their CSVs, `python benchmarks/recalibration.py --part study --report {shlex.join(a.report)}`"
              if a.report else f"Reproduce: `{_command()}`", ""]
    return '\n'.join(lines)

def study_report(a):
    "The study's table from the CSVs of runs made apart (e.g. seeds split over processes, each with its own `--out`)"
    df = pd.concat([pd.read_csv(f) for f in a.report])      # a run in a later CSV replaces the same run in an earlier one
    df = df.drop_duplicates(['seed', 'backbone', 'recalibration', 'head'], keep='last')
    _, _, _, test, where = fashion_mnist(a.n_test)
    return df, dict(where=where, n_test=len(test), minutes=df.seconds.sum() / 60)

# ---------------------------------------------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--part', choices=('overhead', 'study', 'both'), default='both')
    p.add_argument('--archs', default='resnet50,densenet121')
    p.add_argument('--bs', type=int, default=8)
    p.add_argument('--step-size', type=int, default=112)
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--memory-formats', default='contiguous,channels_last', help=f"of {', '.join(MEMORY_FORMATS)}")
    p.add_argument('--heads', default='gap,wise')
    p.add_argument('--backbones', default=','.join(BACKBONES), help=f"study: of {', '.join(BACKBONES)}")
    p.add_argument('--variants', default=';'.join(VARIANTS), help=f"study: recalibrations, ';'-separated, of {'; '.join(VARIANTS)}")
    p.add_argument('--report', nargs='+', metavar='CSV', help="study: write the table from these runs' CSVs, train nothing")
    p.add_argument('--runs', help="study, with --report: the commands that made the CSVs, for the table's Reproduce line")
    add_study_args(p, n_train=300, epochs=10, size=64)
    a = p.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
    torch.set_num_threads(a.threads)
    a.archs, a.heads, a.memory_formats = a.archs.split(','), a.heads.split(','), a.memory_formats.split(',')
    a.backbones, a.variants = a.backbones.split(','), a.variants.split(';')
    if unknown := set(a.backbones) - set(BACKBONES): p.error(f"unknown backbone(s) {', '.join(sorted(unknown))}")
    if unknown := set(a.variants) - set(VARIANTS): p.error(f"unknown variant(s) {'; '.join(sorted(unknown))}")
    if a.smoke:
        a.archs, a.bs, a.step_size, a.repeats = ['resnet18', 'densenet121'], 2, 32, 1
        a.seeds, a.epochs, a.n_train, a.n_test, a.n_valid = 1, 1, 5, 5, 20
    out = Path(a.out)
    a.csv = None if a.smoke else str(out/'recalibration_study.csv')
    parts = {}
    if a.part in ('overhead', 'both'): parts['overhead'] = overhead(a)
    if a.part in ('study', 'both'):
        df, info = study_report(a) if a.report else study(a)
        if a.report and not a.smoke: _write(out/'recalibration_study.csv', df.to_csv(index=False))
        parts['study'] = study_markdown(df, info, a)
    for name, md in parts.items():
        print(md)
        if not a.smoke: _write(out/f'recalibration_{name}.md', "# MS-SAR and SE inside the backbone\n\n" + md)

if __name__ == '__main__': main()
