#!/usr/bin/env python
"""When does a spatial head help? Every head on three tasks from real images, each run a `wisefast compare` command.

Tasks (wisefast's dataset names, so `wisefast compare TASK` repeats any of them, or runs the protocol on a folder):
  fashion_mnist   centred objects, 10 classes;
  mosaic_corner   2×2 mosaics of Fashion-MNIST items, the label is the top-left item's class (position carries it);
  mosaic_where    one item in one cell of a 2×2 mosaic, the label is its class and cell (40 classes).
Each (task, map size, seed) is one `wisefast compare` run of every head (same data subset, initialisation and batch
order for every head), trained with fastai's `fit_one_cycle` (SGD momentum 0.9) and validated on the whole test
split every epoch. Resumable: finished runs are rows of the CSVs and are skipped; an interrupted one resumes from its
last checkpoint. The summary (CSV, Markdown, PNG) is rewritten after every run.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 MPLBACKEND=Agg \\
      nohup python benchmarks/head_study.py --cells fashion_mnist:4 > head_study.log 2>&1 &

Outputs in benchmarks/results/: head_study.csv (one row per run), head_study_curves.csv (test top-1 per epoch),
head_study.md (mean ± sd, cost, the commands), head_study.png (curves, mean over seeds); run folders in --runs.
"""
from __future__ import annotations
import argparse, contextlib, fcntl, shlex, sys, time
from pathlib import Path
import numpy as np, pandas as pd
from fastai_workflows import _write

RESULTS = Path(__file__).resolve().parent/'results'
TASKS = dict(fashion_mnist="Fashion-MNIST, centred objects (10 classes)",
             mosaic_corner="2×2 mosaics, label = the top-left item's class (10 classes)",
             mosaic_where="one item in a 2×2 mosaic, label = its class and cell (40 classes)")
N_TRAIN = dict(fashion_mnist=500, mosaic_corner=500, mosaic_where=125)   # images per class: 5,000 in all
CLASSES = dict(fashion_mnist=10, mosaic_corner=10, mosaic_where=40)
FULL_TEST = 10_000                      # every task's test split
MAPS = {4: 32, 8: 64, 16: 128}          # feature map side -> image size, with test_resnet at output stride 8
CELLS = 'fashion_mnist:4,fashion_mnist:8,mosaic_corner:4,mosaic_corner:8,mosaic_where:4,mosaic_where:16'
HEADS = 'gap:default,gap_dp:default,fastai:default,wise:default,wise:paper,dw_nonneg:default,avg_dense:default,gwap:default'
COLS = ['task', 'map', 'head', 'init', 'seed', 'epochs', 'final_top1', 'best_top1', 'seconds', 'sec_per_epoch',
        'head_params', 'params', 'n_train', 'n_test']

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--cells', default=CELLS, help="TASK:MAP pairs to run, in order (MAP: feature map side, 4, 8 or 16)")
    p.add_argument('--heads', default=HEADS, help="heads, `wisefast compare` names")
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--epochs', type=int, default=15)
    p.add_argument('--lr', type=float, default=0.05, help="one-cycle peak learning rate (SGD momentum 0.9)")
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--arch', default='test_resnet')
    p.add_argument('--n-train', type=int, help="training images per class (default: 5,000 images in all)")
    p.add_argument('--n-test', type=int, help="test images per class validated every epoch (default: the whole test split)")
    p.add_argument('--runs', default='runs/head_study', help="run folders (models, histories): not committed")
    p.add_argument('--out', default=str(RESULTS), help="folder of the summary files")
    p.add_argument('--report', action='store_true', help="only rewrite the summary from the CSVs")
    return p.parse_args(argv)

def cells(a) -> list:
    out = []
    for c in a.cells.split(','):
        task, _, m = c.strip().partition(':')
        if task not in TASKS or not m.isdigit() or int(m) not in MAPS:
            raise SystemExit(f"--cells: {c!r} is not TASK:MAP with TASK one of {', '.join(TASKS)} and MAP one of {list(MAPS)}")
        out.append((task, int(m)))
    return out

def compare_argv(a, task:str, fmap:int, seed:int, out) -> list:
    "The `wisefast compare` arguments of one run"
    n = a.n_train or N_TRAIN[task]
    return [task, '--arch', a.arch, '--size', str(MAPS[fmap]), '--output-stride', '8', '--heads', a.heads,
            '--schedule', 'one_cycle', '--lr', str(a.lr), '--epochs', str(a.epochs), '--bs', str(a.bs),
            '--n-per-class', f'{n},{a.n_test or 100000}', '--test-as-valid', '--augment', 'none', '--preprocess', 'torch',
            '--seed', str(seed), '--workers', '0', '--threads', '1', '--out', str(out)]

def parse_head(name:str) -> tuple:
    "`(variant, init)` of a `wisefast compare` head name (no setting: the paper's)"
    variant, _, init = name.partition(':')
    return variant, init or 'paper'

def run_rows(a, task, fmap, seed, out) -> tuple:
    "(rows, curve rows) of a finished run folder `out`"
    import json
    from wisefast.experiments import check_heads, head_dir
    rows, curves = [], []
    for h in check_heads(a.heads):
        res = json.loads((out/head_dir(h)/'result.json').read_text())
        hist = pd.read_csv(out/head_dir(h)/'history.csv')
        variant, init = parse_head(h)
        key = dict(task=task, map=fmap, head=variant, init=init, seed=seed)
        rows.append(dict(key, epochs=res['epochs'], final_top1=res['last_top1'], best_top1=res['top1'],
                         seconds=res['sec_per_epoch']*res['epochs'], sec_per_epoch=res['sec_per_epoch'],
                         head_params=res['head_params'], params=res['params'], n_train=res['n_train'],
                         n_test=res['n_valid']))
        curves += [dict(key, epoch=int(e) + 1, top1=float(v)) for e, v in zip(hist.epoch, hist.valid_accuracy)]
    return rows, curves

def _save(df:pd.DataFrame, f:Path): _write(f, df.to_csv(index=False))

@contextlib.contextmanager
def locked(out:Path):
    "One process at a time reads and rewrites the summary (two cells can run in two processes)"
    with open(out/'.head_study.lock', 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield

def step_times(a, heads:list, fmap:int, n_out:int, rounds:int=15, steps:int=3) -> dict:
    "Median ms of one training step (forward, backward, SGD) of each head's model, measured side by side, interleaved"
    import torch, warnings
    from wisefast.experiments import head_settings
    from wisefast.models import create_wise_model
    torch.set_num_threads(1)
    x, y = torch.randn(a.bs, 3, MAPS[fmap], MAPS[fmap]), torch.randint(0, n_out, (a.bs,))
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for h in heads:
            variant, kw = head_settings(h)
            m = create_wise_model(a.arch, n_out, size=MAPS[fmap], head=variant, pretrained=False, output_stride=8, **kw)
            models[label(*parse_head(h))] = (m, torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9))
    times = {h: [] for h in models}
    def step(m, opt):
        torch.nn.functional.cross_entropy(m(x), y).backward(); opt.step(); opt.zero_grad()
    for m, opt in models.values(): step(m, opt)                        # warm-up
    for _ in range(rounds):
        for h, (m, opt) in models.items():
            t = time.perf_counter()
            for _ in range(steps): step(m, opt)
            times[h].append(1000*(time.perf_counter() - t)/steps)
    return {h: float(np.median(v)) for h, v in times.items()}

def _mean_sd(x) -> str:
    x = 100*np.asarray(x, float)
    return f"{x.mean():.2f} ± {x.std(ddof=1):.2f}" if len(x) > 1 else f"{x.mean():.2f}"

def label(head, init) -> str: return f"{head}:{init}"

def vs_gap(d:pd.DataFrame):
    "`(head, init, its rows, its final top-1 minus GAP's in points, per seed both ran)` for each head of one cell `d`"
    gap = d[d['head'] == 'gap'].set_index('seed').final_top1
    for (h, i), g in d.groupby(['head', 'init'], sort=False):
        yield h, i, g, 100*g.set_index('seed').final_top1.sub(gap).dropna()

def summary(df:pd.DataFrame) -> pd.DataFrame:
    "Final test top-1 (%) of each head in each cell, mean over seeds, with the paired difference to GAP in points"
    cols = {}
    for (task, fmap), d in df.groupby(['task', 'map'], sort=False):
        col = {}
        for h, i, g, diff in vs_gap(d):
            col[label(h, i)] = f"{100*g.final_top1.mean():.1f}" + ('' if h == 'gap' else f" ({diff.mean():+.1f})")
        cols[f"{task} {fmap}×{fmap} ({(n := d.seed.nunique())} seed{'s' * (n != 1)})"] = col
    return pd.DataFrame(cols).rename_axis('head').reset_index().fillna('')

def cell_heads(d:pd.DataFrame) -> list:
    "The `wisefast compare` names of the heads in the rows `d`, in order"
    return list(dict.fromkeys(label(h, i) for h, i in zip(d['head'], d.init)))

def cell_args(a, task:str, d:pd.DataFrame) -> argparse.Namespace:
    "`a` with the settings cell `d` was run with (its heads, epochs, training and test images), for its command"
    n_test = int(d.n_test.iloc[0])
    return argparse.Namespace(**{**vars(a), 'heads': ','.join(cell_heads(d)), 'epochs': int(d.epochs.iloc[0]),
                                 'n_train': int(d.n_train.iloc[0])//CLASSES[task],
                                 'n_test': None if n_test == FULL_TEST else n_test//CLASSES[task]})

def study_cmd(a, task:str, fmap:int) -> str:
    "The `head_study.py` command of one cell run with `a`'s settings (the defaults left out)"
    default = parse_args([])
    extra = [s for k in ('heads', 'epochs', 'n_test') if getattr(a, k) != getattr(default, k)
             for s in (f"--{k.replace('_', '-')}", str(getattr(a, k)))]
    return ' '.join(shlex.quote(s) for s in ['python', 'benchmarks/head_study.py', '--cells', f'{task}:{fmap}', *extra])

def markdown(df:pd.DataFrame, cost:pd.DataFrame, a, info:str) -> str:
    from wisefast.experiments import results_markdown
    out = [f"# Head study: when does a spatial head help?\n\n{info}\n",
           "Final test top-1 (%), mean over seeds (paired difference to GAP, points):\n\n" + results_markdown(summary(df))]
    for (task, fmap), d in df.groupby(['task', 'map'], sort=False):
        rows, ms = [], cost[(cost['map'] == fmap) & (cost.classes == CLASSES[task])].set_index('head').step_ms
        for h, i, g, diff in vs_gap(d):
            rows.append({'head': label(h, i), 'seeds': len(g), 'final top-1 (%)': _mean_sd(g.final_top1),
                         'best top-1 (%)': _mean_sd(g.best_top1),
                         'final − GAP (points, paired)': '' if h == 'gap' or not len(diff) else
                             f"{diff.mean():+.2f} ± {diff.std(ddof=1) if len(diff) > 1 else 0:.2f}",
                         'head parameters': int(g.head_params.iloc[0]), 'step (ms)': f"{ms[label(h, i)]:.1f}",
                         'step / GAP': f"{ms[label(h, i)] / ms['gap:default']:.2f}×"})
        ca = cell_args(a, task, d)
        cmd = ' '.join(shlex.quote(s) for s in ['wisefast', 'compare', *compare_argv(ca, task, fmap, 0, f'runs/{task}_{fmap}x{fmap}_s0')])
        out.append(f"## {task}, {fmap}×{fmap} map ({MAPS[fmap]} px)\n\n{TASKS[task]}; {int(d.n_train.iloc[0])} training and "
                   f"{int(d.n_test.iloc[0])} test images ({f'{ca.n_test} of each class' if ca.n_test else 'the whole test split'}), "
                   f"{ca.epochs} epoch{'s' * (ca.epochs != 1)}: `{study_cmd(ca, task, fmap)}`. One seed's command (`--seed 1`, `--seed 2` for the others):\n\n"
                   f"```\n{cmd}\n```\n\n" + results_markdown(pd.DataFrame(rows)))
    return '\n'.join(out)

def figure(curves:pd.DataFrame, f:Path):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from wisefast.callbacks import savefig_atomic
    groups = list(curves.groupby(['task', 'map'], sort=False))
    ncols = min(2, len(groups)); nrows = -(-len(groups)//ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(5*ncols, 4*nrows), squeeze=False)
    colors = {h: f'C{k}' for k, h in enumerate(HEADS.split(','))}   # one colour per head in every panel
    lines = {}
    for ax, ((task, fmap), d) in zip(axs.flat, groups):
        for (h, i), g in d.groupby(['head', 'init'], sort=False):
            m = g.groupby('epoch').top1.mean()
            lines[label(h, i)], = ax.plot(m.index, 100*m.values, marker='.', color=colors.get(label(h, i)),
                                          lw=2 if h in ('gap', 'wise') else 1)
        ax.set(title=f"{task}, {fmap}×{fmap} map", xlabel='epoch', ylabel='test top-1 (%), mean over seeds')
    for ax in axs.flat[len(groups):]: ax.axis('off')
    fig.legend(lines.values(), lines.keys(), loc='lower center', ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    savefig_atomic(fig, f, dpi=100)
    plt.close(fig)

def report(a):
    out = Path(a.out)
    by_cell = lambda d: d.sort_values(['task', 'map'], key=lambda c: c.map(list(TASKS).index) if c.name == 'task' else c,
                                      kind='stable')          # a task per row of the figure, its maps side by side
    df, curves = by_cell(pd.read_csv(out/'head_study.csv')), by_cell(pd.read_csv(out/'head_study_curves.csv'))
    info = (f"{a.arch} from scratch, output stride 8, batches of {a.bs}, `fit_one_cycle` at lr {a.lr} with the "
            f"paper's SGD (momentum 0.9), no augmentation; validated on the test split every epoch (final: the last "
            f"epoch, best: the best epoch, optimistic; each cell's epochs and test images are in its section). Seeds set the training subset, the "
            f"initialisation and the batch order, the same for every head. Heads: `NAME:default` is the head as "
            f"`wise_learner` builds it (for Wise-SrNet: the GAP start, no dropout), `NAME:paper` as the paper trains it "
            f"(Normal(0, 0.01) init, dropout 0.5). Cost: the head's parameters, and the median time of one training step "
            f"(batch of {a.bs}, forward, backward, SGD; one thread) of each head's model for the map and number of classes, measured side by side in one "
            f"process, rounds interleaved (`head_study_cost.csv`). Reproduce: each cell's `head_study.py` command is in its section "
            f"(resumable; `--report` redraws from the CSVs).")
    fcost = out/'head_study_cost.csv'
    cost = pd.read_csv(fcost) if fcost.exists() else None
    if cost is None or 'classes' not in cost: cost = pd.DataFrame(columns=['map', 'classes', 'head', 'step_ms'])
    have = set(zip(cost['map'], cost.classes))
    for fmap, n_out in sorted({(m, CLASSES[t]) for t, m in zip(df.task, df['map'])} - have):
        heads = cell_heads(df[(df['map'] == fmap) & (df.task.map(CLASSES) == n_out)])
        cost = pd.concat([cost, pd.DataFrame([dict(map=fmap, classes=n_out, head=h, step_ms=v)
                                              for h, v in step_times(a, heads, fmap, n_out).items()])])
        _save(cost, fcost)
    _write(out/'head_study.md', markdown(df, cost, a, info))
    figure(curves, out/'head_study.png')

def main(argv=None):
    a = parse_args(argv)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    if a.report:
        with locked(out): return report(a)
    from wisefast.cli import main as wisefast
    from wisefast.experiments import check_heads
    check_heads(a.heads)
    f, fc = out/'head_study.csv', out/'head_study_curves.csv'
    for task, fmap in cells(a):
        for seed in [int(s) for s in a.seeds.split(',')]:
            done = pd.read_csv(f) if f.exists() else pd.DataFrame(columns=COLS)
            if ((done.task == task) & (done['map'] == fmap) & (done.seed == seed)).any(): continue
            run = Path(a.runs)/f'{task}_{fmap}x{fmap}'/f's{seed}'
            print(f"[head study] {task} {fmap}×{fmap} seed {seed} -> {run}", flush=True)
            if rc := wisefast(['compare', *compare_argv(a, task, fmap, seed, run)]): sys.exit(rc)
            rows, curves = run_rows(a, task, fmap, seed, run)
            with locked(out):
                done = pd.read_csv(f) if f.exists() else pd.DataFrame(columns=COLS)
                _save(pd.concat([done, pd.DataFrame(rows)[COLS]]), f)
                old = pd.read_csv(fc) if fc.exists() else None
                _save(pd.concat([old, pd.DataFrame(curves)]) if old is not None else pd.DataFrame(curves), fc)
                report(a)

if __name__ == '__main__': main()
