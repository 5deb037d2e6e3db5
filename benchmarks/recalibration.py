"""MS-SAR and SE inside the backbone: what they cost, and what they do for a GAP or a Wise-SrNet head on CPU.

    python benchmarks/recalibration.py --part overhead      # parameters, FLOPs, training-step time (a few minutes)
    python benchmarks/recalibration.py --part study         # Fashion-MNIST, 3 seeds (about 25 min on 1 CPU thread)
    python benchmarks/recalibration.py --smoke              # every code path in a minute; writes nothing

**Overhead.** ResNet-50 and DenseNet-121 (timm, 1000 classes) plain, with timm's SE and with MS-SAR in every residual
block / dense layer (`add_recalibration`): parameters, and the multiply-adds of the convolutions and matrix products
of one 224 px image (PyTorch's `FlopCounterMode`; it does not count element-wise work such as the gates' sigmoid and
product, which the step time includes). Training-step time: forward, backward and an SGD step on a batch of `--bs` images of
`--step-size` px, one torch thread, the three models interleaved `--repeats` times; ratios against the plain
backbone, measured side by side within each repeat (medians over repeats).

**Study.** Fashion-MNIST (the full dataset when installed, else the sample shipped with wisefast) at `--size` px,
`--n-train` images per class, scored on the whole test split; from scratch, fastai's `fit_one_cycle(--epochs)` at
its default lr (Adam), batches of 64, no augmentation. Backbones: timm's `test_resnet` (a ResNet of BasicBlocks with
tiny widths) and a small DenseNet (`densenet121` with growth 12, blocks (2, 2, 2, 2), bottleneck 2× growth). Every
(recalibration, head) pair with the same seed sees the same batches.
"""
import argparse, os, shlex, statistics, sys, time
from functools import partial
from pathlib import Path
import pandas as pd, torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fastai_workflows import seeded_runs, add_study_args, mean_sd, mean_se, _write

KINDS = (None, 'se', 'ms_sar')
SMALL_DENSENET = dict(growth_rate=12, block_config=(2, 2, 2, 2), bn_size=2)
BACKBONES = {'test_resnet': ('test_resnet', {}), 'small DenseNet': ('densenet121', SMALL_DENSENET)}

def _command(): return ' '.join(['python benchmarks/recalibration.py', *map(shlex.quote, sys.argv[1:])])
def _name(kind): return kind or 'none'

# ------------------------------------------------------------------------------------------------------------ overhead
def _model(arch, kind, **kw):
    import timm
    from wisefast.recalibration import add_recalibration
    m = timm.create_model(arch, **kw)
    return add_recalibration(m, kind) if kind else m

def macs(model, size) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc, torch.no_grad(): model.eval()(torch.zeros(1, 3, size, size))
    return fc.get_total_flops() / 2

def step_time(model, x, y) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()
    t = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward(); opt.step(); opt.zero_grad()
    return time.perf_counter() - t

def overhead(a) -> str:
    rows = []
    for arch in a.archs:
        models = {k: _model(arch, k) for k in KINDS}
        base_p, base_f = sum(p.numel() for p in models[None].parameters()), macs(models[None], 224)
        x, y = torch.rand(a.bs, 3, a.step_size, a.step_size), torch.randint(0, 1000, (a.bs,))
        for m in models.values(): step_time(m, x, y)                # warm-up
        times = {k: [] for k in KINDS}
        for _ in range(a.repeats):
            for k, m in models.items(): times[k].append(step_time(m, x, y))
        for k, m in models.items():
            p, f = sum(q.numel() for q in m.parameters()), macs(m, 224)
            ratios = [t / b for t, b in zip(times[k], times[None])]
            rows.append({'backbone': arch, 'recalibration': _name(k), 'parameters': f"{p / 1e6:.2f} M",
                         'extra parameters': f"{100 * (p - base_p) / base_p:+.1f}%", 'GMACs (224 px)': f"{f / 1e9:.3f}",
                         'extra MACs': f"{100 * (f - base_f) / base_f:+.1f}%",
                         'train step (s)': f"{statistics.median(times[k]):.3f}",
                         'step time / plain': f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"})
            print(rows[-1], flush=True)
    return (f"## Overhead\n\nTraining step: batch of {a.bs} at {a.step_size} px, {a.repeats} interleaved repeats, "
            f"{a.threads} torch thread(s); the ratio is the median of per-repeat ratios (range in brackets).\n\n"
            f"{pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)}\n\nReproduce: `{_command()}`\n")

# --------------------------------------------------------------------------------------------------------------- study
def study_run(dls, test, backbone, recalibration, head, epochs) -> dict:
    "Train `backbone` with `recalibration` and `head` from scratch; its test accuracy"
    from fastai.metrics import accuracy
    from wisefast.learner import wise_learner
    arch, kw = BACKBONES[backbone]
    learn = wise_learner(dls, arch, head=head, pretrained=False, recalibration=None if recalibration == 'none' else recalibration,
                         metrics=accuracy, **kw)
    learn.fit_one_cycle(epochs)
    return dict(accuracy=float(learn.validate(dl=learn.dls.test_dl(test, with_labels=True))[1]))

def study(a):
    configs = [dict(backbone=b, recalibration=_name(k), head=h) for b in BACKBONES for k in KINDS for h in a.heads]
    return seeded_runs(a, configs, partial(study_run, epochs=a.epochs))

def study_markdown(df, info, a) -> str:
    lines = ["## Fashion-MNIST from scratch: none / SE / MS-SAR, each with a GAP and a Wise-SrNet head", "",
             f"Fashion-MNIST ({info['where']}), {a.n_train} training images per class, {info['n_test']} test images, "
             f"{a.size} px, `fit_one_cycle({a.epochs})` at fastai's default lr, {df.seed.nunique()} seeds; "
             f"{info['minutes']:.0f} min on {a.threads} CPU thread(s). Test accuracy, mean ± sd (per seed); "
             f"Δ: paired difference to no recalibration with the same head and seed, mean (SE), points.", "",
             "| backbone | head | none | SE | MS-SAR | Δ SE | Δ MS-SAR |", "|---|---|---|---|---|---|---|"]
    acc = df.set_index(['backbone', 'head', 'seed', 'recalibration']).accuracy.unstack()
    for (bb, head), d in acc.groupby(level=[0, 1], sort=False):
        delta = lambda k: "{:+.2f} ({:.2f})".format(*mean_se(100 * (d[k] - d['none'])))
        lines.append(f"| {bb} | {head} | {mean_sd(d['none'])} | {mean_sd(d['se'])} | {mean_sd(d['ms_sar'])} | "
                     f"{delta('se')} | {delta('ms_sar')} |")
    lines += ["", f"Reproduce: `{_command()}`", ""]
    return '\n'.join(lines)

# ---------------------------------------------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--part', choices=('overhead', 'study', 'both'), default='both')
    p.add_argument('--archs', default='resnet50,densenet121')
    p.add_argument('--bs', type=int, default=8)
    p.add_argument('--step-size', type=int, default=112)
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--heads', default='gap,wise')
    add_study_args(p, n_train=300, epochs=10, size=64)
    a = p.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
    torch.set_num_threads(a.threads)
    a.archs, a.heads = a.archs.split(','), a.heads.split(',')
    if a.smoke:
        a.archs, a.bs, a.step_size, a.repeats = ['resnet18', 'densenet121'], 2, 32, 1
        a.seeds, a.epochs, a.n_train, a.n_test, a.n_valid = 1, 1, 5, 5, 20
    out = Path(a.out)
    a.csv = None if a.smoke else str(out/'recalibration_study.csv')
    parts = {}
    if a.part in ('overhead', 'both'): parts['overhead'] = overhead(a)
    if a.part in ('study', 'both'):
        df, info = study(a)
        parts['study'] = study_markdown(df, info, a)
    for name, md in parts.items():
        print(md)
        if not a.smoke: _write(out/f'recalibration_{name}.md', "# MS-SAR and SE inside the backbone\n\n" + md)

if __name__ == '__main__': main()
