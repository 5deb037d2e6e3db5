#!/usr/bin/env python
"""When does a spatial head help? Every head on three tasks from real images, each run a `wisefast compare` command.

Tasks (wisefast's dataset names, so `wisefast compare TASK` repeats any of them, or runs the protocol on a folder):
  fashion_mnist   centred objects, 10 classes;
  mosaic_corner   2×2 mosaics of Fashion-MNIST items, the label is the top-left item's class (position carries it);
  mosaic_where    one item in one cell of a 2×2 mosaic, the label is its class and cell (40 classes).
Each cell (task, map size, schedule, learning rate, pre-training) and seed is one `wisefast compare` run of every head
(same data subset, initialisation and batch order for every head), validated on the test split every epoch, trained with
  --schedule one_cycle   fastai's `fit_one_cycle` at lr 0.05 (SGD momentum 0.9), from scratch: the first six cells;
  --schedule staircase   the paper's SGD 0.045 ×0.94 every 2 epochs, all layers trainable from the start;
  --schedule fine_tune   fastai's `fine_tune` (one frozen epoch, then the rest with discriminative rates), at lr 0.05;
  --pretrained fashion_mnist:32   from a backbone the study pre-trains once on all 60,000 Fashion-MNIST training
                         images at 32 px (a 4×4 map, GAP head), saved and given to `wisefast compare --pretrained FILE`.
After each run, every head's final model is probed for BatchNorm (`bn_probe`): test top-1 with the running statistics
(eval mode, the reported one), with each batch's own statistics, and with statistics re-estimated on the training images.
Resumable: finished runs are rows of the CSVs and are skipped (heads added to a cell run beside the ones done); an
interrupted one resumes from its last checkpoint. The summary (CSV, Markdown, PNG) is rewritten after every run.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 MPLBACKEND=Agg \\
      nohup python benchmarks/head_study.py --cells fashion_mnist:4 > head_study.log 2>&1 &

Outputs in benchmarks/results/: head_study.csv (one row per run), head_study_curves.csv (test top-1 per epoch),
head_study.md (mean ± sd, cost, the commands), head_study.png (curves, mean over seeds); run folders in --runs.
`--report --readme README.md` also rewrites the README's tables of the study (`readme_tables`) from the CSV.
"""
from __future__ import annotations
import argparse, contextlib, fcntl, shlex, sys, time
from pathlib import Path
import numpy as np, pandas as pd
from fastai_workflows import _write, quiet

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
SCHEDULE_LR = dict(one_cycle=0.05, staircase=0.045, fine_tune=0.05)   # each schedule's default learning rate
PRETRAIN = {'fashion_mnist:32': "all 60,000 Fashion-MNIST training images at 32 px (a 4×4 map), GAP head, "
                                "`fit_one_cycle` at 0.05 for {epochs} epochs"}
# which pre-training each seed's runs started from, where there were several (the file is not committed): the first
# seed of the second pre-training, and the note of the cells that have such seeds
PRETRAIN_RUNS = {'fashion_mnist:32': (3, "Seeds 0-2 start from one pre-training (92.8% test top-1 at 32 px), seed 3 from a "
                                     "second one by the same command (93.0%): the first's file was lost with a machine, "
                                     "and running the command again did not give the same file bit for bit. "
                                     "Every head of a seed starts from the same backbone, so paired differences stay paired.")}
CELL = ['task', 'map', 'schedule', 'lr', 'pretrained', 'bn_momentum']   # what makes a cell; the rows before it: one_cycle
CELL_DEFAULTS = dict(schedule='one_cycle', lr=0.05, pretrained='none', bn_momentum=0.1)
COLS = [*CELL, 'head', 'init', 'seed', 'epochs', 'final_top1', 'best_top1', 'seconds', 'sec_per_epoch',
        'head_params', 'params', 'n_train', 'n_test', 'bn_batch_top1', 'bn_reest_top1']

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--cells', default=CELLS, help="TASK:MAP pairs to run, in order (MAP: feature map side, 4, 8 or 16)")
    p.add_argument('--heads', default=HEADS, help="heads, `wisefast compare` names")
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--epochs', type=int, default=15)
    p.add_argument('--schedule', default='one_cycle', choices=tuple(SCHEDULE_LR), help="training schedule (see above)")
    p.add_argument('--lr', type=float, help="learning rate (default: 0.05 for one_cycle and fine_tune, the paper's 0.045 "
                                            "for staircase); several, comma-separated, make one cell each")
    p.add_argument('--pretrained', default='none', choices=('none', *PRETRAIN), help="start from the study's pre-trained backbone")
    p.add_argument('--pretrain-epochs', type=int, default=10, help="epochs of the pre-training (once, then reused)")
    p.add_argument('--bn-momentum', type=float, default=0.1, help="BatchNorm momentum (PyTorch's meaning; Keras' 0.99 is 0.01)")
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--arch', default='test_resnet')
    p.add_argument('--n-train', type=int, help="training images per class (default: 5,000 images in all; pre-training: all)")
    p.add_argument('--n-test', type=int, help="test images per class validated every epoch (default: the whole test split)")
    p.add_argument('--runs', default='runs/head_study', help="run folders (models, histories): not committed")
    p.add_argument('--out', default=str(RESULTS), help="folder of the summary files")
    p.add_argument('--report', action='store_true', help="only rewrite the summary from the CSVs")
    p.add_argument('--readme', help="also rewrite the study's tables in this file (the README) with the summary, each after "
                                    "its line '<!-- head_study.py --readme: NAME -->'")
    return p.parse_args(argv)

def lrs(a) -> list:
    "The learning rates of `a`: `--lr`'s, else its schedule's default"
    return [float(v) for v in str(a.lr).split(',')] if a.lr is not None else [SCHEDULE_LR[a.schedule]]

def cells(a) -> list:
    "The cells `a` runs, as dicts of `CELL`"
    out = []
    for c in a.cells.split(','):
        task, _, m = c.strip().partition(':')
        if task not in TASKS or not m.isdigit() or int(m) not in MAPS:
            raise SystemExit(f"--cells: {c!r} is not TASK:MAP with TASK one of {', '.join(TASKS)} and MAP one of {list(MAPS)}")
        out += [dict(task=task, map=int(m), schedule=a.schedule, lr=lr, pretrained=a.pretrained, bn_momentum=a.bn_momentum)
                for lr in lrs(a)]
    return out

def cell_name(c:dict) -> str:
    "Run folder of cell `c`: `TASK_MAPxMAP`, then what differs from the first cells' setting"
    out = f"{c['task']}_{c['map']}x{c['map']}"
    if c['schedule'] != 'one_cycle': out += f"_{c['schedule']}"
    if c['lr'] != SCHEDULE_LR[c['schedule']]: out += f"_lr{c['lr']:g}"
    if c['pretrained'] != 'none': out += f"_pt-{c['pretrained'].replace(':', '')}"
    if c['bn_momentum'] != 0.1: out += f"_bnm{c['bn_momentum']:g}"
    return out

def compare_argv(a, c:dict, seed:int, out, weights=None) -> list:
    "The `wisefast compare` arguments of one run of cell `c` (`weights`: the pre-trained backbone's file)"
    n = a.n_train or N_TRAIN[c['task']]
    return [c['task'], '--arch', a.arch, '--size', str(MAPS[c['map']]), '--output-stride', '8', '--heads', a.heads,
            '--schedule', c['schedule'], '--lr', f"{c['lr']:g}", '--epochs', str(a.epochs), '--bs', str(a.bs),
            '--n-per-class', f'{n},{a.n_test or 100000}', '--test-as-valid', '--augment', 'none', '--preprocess', preprocess(a, c),
            *(['--pretrained', str(weights or backbone_file(a, c['pretrained']))] if c['pretrained'] != 'none' else []),
            *(['--bn-momentum', f"{c['bn_momentum']:g}"] if c['bn_momentum'] != 0.1 else []),
            '--seed', str(seed), '--workers', '0', '--threads', '1', '--out', str(out)]

def preprocess(a, c:dict) -> str:
    "Input statistics: ImageNet's from scratch; with the study's backbone, the ones timm gives `a.arch`, as `wise_learner` would"
    return 'torch' if c['pretrained'] == 'none' else a.arch

def study_dls(a, c:dict, seed:int):
    "The DataLoaders of a run of cell `c` (the ones `wisefast compare` builds from `compare_argv`)"
    from wisefast.data import wise_dls
    n = a.n_train or N_TRAIN[c['task']]
    with quiet():
        return wise_dls(c['task'], size=MAPS[c['map']], bs=a.bs, n_per_class=(n, a.n_test or 100000), test_as_valid=True,
                        augment=False, preprocess=preprocess(a, c), seed=seed, num_workers=0)

def backbone_file(a, name:str) -> Path:
    "Where the backbone of pre-training `name` (`PRETRAIN`) is saved"
    return Path(a.runs)/'pretrain'/name.replace(':', '_')/f'{a.arch}_backbone.safetensors'

def pretrained_backbone(a, name:str) -> Path:
    "The backbone weights file of pre-training `name` (`PRETRAIN`): trained by `wisefast compare` once, then reused"
    from wisefast.cli import main as wisefast
    task, _, size = name.partition(':')
    f = backbone_file(a, name)
    if f.exists(): return f
    run = f.parent
    print(f"[head study] pre-training {a.arch} on {PRETRAIN[name].format(epochs=a.pretrain_epochs)} -> {run}", flush=True)
    argv = [task, '--arch', a.arch, '--size', size, '--output-stride', '8', '--heads', 'gap:default', '--schedule',
            'one_cycle', '--lr', '0.05', '--epochs', str(a.pretrain_epochs), '--bs', str(a.bs), '--n-per-class',
            f'{a.n_train or 100000},{a.n_test or 100000}', '--test-as-valid', '--augment', 'none', '--preprocess', a.arch, '--seed', '0',
            '--workers', '0', '--threads', '1', '--out', str(run)]
    if rc := wisefast(['compare', *argv]): sys.exit(rc)
    from safetensors.torch import save
    from wisefast.files import atomic_file
    from wisefast.load import load_exported
    with quiet(): body = load_exported(run/'gap-default').model[0].model   # timm's model, no pooling, no classifier
    with atomic_file(f) as out: out.write(save({k: v.contiguous() for k, v in body.state_dict().items()}))
    return f

def bn_probe(model, train_dl, test_dl) -> dict:
    """Test top-1 of `model` with BatchNorm's running statistics (eval mode), with each test batch's own statistics
    (batches of the same size, shuffled with a fixed seed), and with running statistics re-estimated on the training
    images (`wisefast.callbacks.reestimate_bn`: a cumulative average over one pass, no augmentation, dropout off)"""
    import copy, torch
    from wisefast.callbacks import bn_layers, reestimate_bn
    def top1(m, dl):
        n = ok = 0
        with torch.no_grad():
            for xb, yb in dl: ok += (m(xb).argmax(1) == yb).sum().item(); n += len(yb)
        return ok / n
    out = dict(eval_top1=top1(model.eval(), test_dl))
    m = copy.deepcopy(model).eval()
    for l in bn_layers(m): l.train(); l.momentum = 0.                      # batch statistics, running ones untouched
    torch.manual_seed(0)
    out['bn_batch_top1'] = top1(m, test_dl.new(shuffle=True, drop_last=False))
    m = reestimate_bn(copy.deepcopy(model), train_dl.new(shuffle=False, drop_last=False))
    out['bn_reest_top1'] = top1(m.eval(), test_dl)
    return out

def parse_head(name:str) -> tuple:
    "`(variant, init)` of a `wisefast compare` head name (no setting: the paper's)"
    variant, _, init = name.partition(':')
    return variant, init or 'paper'

def run_rows(a, c:dict, seed:int, out:Path, probe:bool=True) -> tuple:
    "(rows, curve rows) of the finished run folder `out` of cell `c`, each head's final model BatchNorm-probed (`bn_probe`)"
    import json
    from wisefast.experiments import check_heads, head_dir
    from wisefast.load import load_exported
    rows, curves = [], []
    dls = study_dls(a, c, seed) if probe else None
    for h in check_heads(a.heads):
        res = json.loads((out/head_dir(h)/'result.json').read_text())
        hist = pd.read_csv(out/head_dir(h)/'history.csv')
        variant, init = parse_head(h)
        key = dict(c, head=variant, init=init, seed=seed)
        bn = {}
        if probe:
            with quiet(): model = load_exported(out/head_dir(h), cpu=True).model
            bn = bn_probe(model, dls.train, dls.valid)
            if abs(bn['eval_top1'] - res['last_top1']) > 1e-6:
                raise RuntimeError(f"{out/head_dir(h)}: the exported model scores {bn['eval_top1']} on the test split, "
                                   f"its history {res['last_top1']}: not the run's final model")
        rows.append(dict(key, epochs=res['epochs'], final_top1=res['last_top1'], best_top1=res['top1'],
                         seconds=res['sec_per_epoch']*res['epochs'], sec_per_epoch=res['sec_per_epoch'],
                         head_params=res['head_params'], params=res['params'], n_train=res['n_train'],
                         n_test=res['n_valid'], bn_batch_top1=bn.get('bn_batch_top1'), bn_reest_top1=bn.get('bn_reest_top1')))
        curves += [dict(key, epoch=int(e) + 1, top1=float(v)) for e, v in zip(hist.epoch, hist.valid_accuracy)]
    return rows, curves

def seed_heads(a, done:pd.DataFrame, c:dict, seed:int) -> tuple:
    """(heads of `a.heads` with no row yet for cell `c` and `seed`, the heads to give `wisefast compare`): those and
    the ones with rows, which `compare` skips (their folders hold a result) and keeps in the run's table and curves"""
    from wisefast.experiments import check_heads
    d = in_cell(done, c); d = d[d.seed == seed]
    have = list(zip(d['head'], d['init']))
    todo = [h for h in check_heads(a.heads) if parse_head(h) not in have]
    return todo, ([*(label(*k) for k in have), *todo] if todo else [])

def with_heads(a, heads:list) -> argparse.Namespace: return argparse.Namespace(**{**vars(a), 'heads': ','.join(heads)})

def read_rows(f:Path) -> pd.DataFrame:
    "A study CSV, the rows from before the cell settings existed given the first cells' (`CELL_DEFAULTS`)"
    df = pd.read_csv(f) if f.exists() else pd.DataFrame(columns=COLS)
    for k, v in CELL_DEFAULTS.items(): df[k] = df[k].fillna(v) if k in df else v
    return df

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
    from wisefast.heads import head_spec
    from wisefast.models import create_wise_model
    torch.set_num_threads(1)
    x, y = torch.randn(a.bs, 3, MAPS[fmap], MAPS[fmap]), torch.randint(0, n_out, (a.bs,))
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for h in heads:
            spec, kw = head_spec(h, setting='paper')             # a plain name: as the paper trains it (`wisefast compare`)
            m = create_wise_model(a.arch, n_out, size=MAPS[fmap], head=spec.name, pretrained=False, output_stride=8, **kw)
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

def _mean_sd(x, scale:float=100, sign:bool=False, digits:int=2) -> str:
    "`x` × `scale` as mean ± sd (the mean alone for one value), the mean signed if `sign`"
    x = scale*np.asarray(x, float)
    m = f"{x.mean():{'+' if sign else ''}.{digits}f}"
    return f"{m} ± {x.std(ddof=1):.{digits}f}" if len(x) > 1 else m

def label(head, init) -> str:
    "A head's `wisefast compare` name, `head:init` (of strings, or of a study's columns row by row)"
    return head + ':' + init

def in_cell(df:pd.DataFrame, c:dict) -> pd.DataFrame:
    "The rows of `df` in cell `c` (its `CELL` settings)"
    return df[(df[CELL] == pd.Series(c)[CELL]).all(axis=1)]

def vs_gap(d:pd.DataFrame, col:str='final_top1'):
    "`(head, init, its rows, its `col` minus GAP's in points, per seed both ran)` for each head of one cell `d`"
    gap = d[d['head'] == 'gap'].set_index('seed')[col]
    for (h, i), g in d.groupby(['head', 'init'], sort=False):
        yield h, i, g, 100*g.set_index('seed')[col].sub(gap).dropna()

def cell_of(d:pd.DataFrame) -> dict:
    "The cell (`CELL`) of the rows `d` of one cell"
    r = d.iloc[0]
    return dict(task=r.task, map=int(r['map']), schedule=r.schedule, lr=float(r.lr), pretrained=r.pretrained,
                bn_momentum=float(r.bn_momentum))

def cell_title(c:dict) -> str:
    "How a cell is named in the tables: task and map, then what differs from the first cells"
    out = [f"{c['task']} {c['map']}×{c['map']}"]
    if c['pretrained'] != 'none': out.append(f"pre-trained ({c['pretrained']})")
    if c['schedule'] != 'one_cycle': out.append(c['schedule'].replace('_', ' '))
    if c['lr'] != SCHEDULE_LR[c['schedule']]: out.append(f"lr {c['lr']:g}")
    if c['bn_momentum'] != 0.1: out.append(f"BN momentum {c['bn_momentum']:g}")
    return ', '.join(out)

def by_cell(df:pd.DataFrame):
    "`(cell, its rows)` for each cell of `df`, in the order of the table: schedules, pre-training, tasks, maps, lrs"
    key = lambda c: (list(SCHEDULE_LR).index(c['schedule']), c['pretrained'] != 'none', list(TASKS).index(c['task']),
                     c['map'], c['lr'], -c['bn_momentum'])
    groups = [(cell_of(d), d) for _, d in df.groupby(CELL, sort=False)]
    return sorted(groups, key=lambda g: key(g[0]))

def summary(df:pd.DataFrame, col:str='final_top1') -> pd.DataFrame:
    "Test top-1 (%, `col`) of each head in each cell, mean over seeds, with the paired difference to GAP in points"
    cols = {}
    for c, d in by_cell(df):
        out = {}
        for h, i, g, diff in vs_gap(d, col):
            out[label(h, i)] = f"{100*g[col].mean():.1f}" + ('' if h == 'gap' else f" ({diff.mean():+.1f})")
        cols[f"{cell_title(c)} ({(n := d.seed.nunique())} seed{'s' * (n != 1)})"] = out
    return pd.DataFrame(cols).rename_axis('head').reset_index().fillna('')

def lr_sweeps(df:pd.DataFrame) -> list:
    """`(title, table)` for each setting trained at three or more learning rates: per rate and head, the final test top-1
    in eval mode (best epoch) → with BatchNorm re-estimated, means over seeds (%)"""
    rest, out = [k for k in CELL if k != 'lr'], []
    for _, d in df.groupby(rest, sort=False):
        if d.lr.nunique() < 3: continue
        rows = []
        for lr, g in d.groupby('lr'):
            row = {'lr': f"{lr:g}"}
            for (h, i), gh in g.groupby(['head', 'init'], sort=False):
                reest = f" → {100*gh.bn_reest_top1.mean():.1f}" if gh.bn_reest_top1.notna().all() else ''
                row[label(h, i)] = (f"{100*gh.final_top1.mean():.1f} ({100*gh.best_top1.mean():.1f}){reest}"
                                    f"{f' [{len(gh)} seeds]' if len(gh) > 1 else ''}")
            rows.append(row)
        title = cell_title({**cell_of(d), 'lr': SCHEDULE_LR[d.schedule.iloc[0]]})
        out.append((title, pd.DataFrame(rows, columns=['lr', *cell_heads(d)]).fillna('not run')))   # heads in the study's order
    return out

def cell_heads(d:pd.DataFrame) -> list:
    "The `wisefast compare` names of the heads in the rows `d`, in order"
    return list(dict.fromkeys(label(d['head'], d.init)))

def cell_args(a, c:dict, d:pd.DataFrame) -> argparse.Namespace:
    "`a` with the settings cell `c` (rows `d`) was run with, for its command"
    n_test = int(d.n_test.iloc[0])
    return argparse.Namespace(**{**vars(a), 'heads': ','.join(cell_heads(d)), 'epochs': int(d.epochs.iloc[0]),
                                 'n_train': int(d.n_train.iloc[0])//CLASSES[c['task']], 'schedule': c['schedule'],
                                 'lr': c['lr'], 'pretrained': c['pretrained'], 'bn_momentum': c['bn_momentum'],
                                 'n_test': None if n_test == FULL_TEST else n_test//CLASSES[c['task']]})

def study_cmd(a, c:dict) -> str:
    "The `head_study.py` command of cell `c` run with `a`'s settings (the defaults left out)"
    default = parse_args([])
    extra = [s for k in ('schedule', 'pretrained', 'bn_momentum', 'heads', 'epochs', 'n_test') if getattr(a, k) != getattr(default, k)
             for s in (f"--{k.replace('_', '-')}", str(getattr(a, k)))]
    if c['lr'] != SCHEDULE_LR[c['schedule']]: extra += ['--lr', f"{c['lr']:g}"]
    return ' '.join(shlex.quote(s) for s in ['python', 'benchmarks/head_study.py', '--cells', f"{c['task']}:{c['map']}", *extra])

def _runs(g:pd.DataFrame, best:bool=True) -> str:
    """One head's runs of one cell, in %: the final eval-mode top-1 (mean, then each seed's), the best epoch's (mean), and
    → the top-1 with BatchNorm re-estimated (mean ± sd), then the number of seeds"""
    if not len(g): return 'not run'
    g = g.sort_values('seed'); f = 100*g.final_top1
    return (f"{f.mean():.1f}" + (f" ({', '.join(f'{v:.1f}' for v in f)})" if len(g) > 1 else '')
            + (f" [best {100*g.best_top1.mean():.1f}]" if best else '') + f" → {_mean_sd(g.bn_reest_top1, digits=1)}"
            + (f" ({len(g)} seeds)" if len(g) > 1 else ''))

def readme_tables(df:pd.DataFrame) -> dict:
    """The README's tables of the study, from its rows: `one_cycle` (`summary` of fastai's schedule), `staircase` (the
    paper's, both tasks), `learning_rates` (GAP and Wise-SrNet in the 16×16 staircase cells) and `transfer`"""
    of_head = lambda d, h: d[label(d['head'], d.init) == h]
    def cell(**kw):
        c = {**CELL_DEFAULTS, 'schedule': 'staircase', 'lr': SCHEDULE_LR['staircase'], 'task': 'mosaic_where', 'map': 16, **kw}
        return in_cell(df, c)
    def by_head(cols:dict, best=()) -> pd.DataFrame:
        heads = [h for h in HEADS.split(',') if any(h in cell_heads(d) for d in cols.values())]
        return pd.DataFrame([{'head': h, **{k: _runs(of_head(d, h), best=k not in best) for k, d in cols.items()}} for h in heads])
    staircase = {'fashion_mnist 8×8': cell(task='fashion_mnist', map=8), 'mosaic_where 16×16': cell()}
    scratch = df[(df.task == 'mosaic_where') & (df['map'] == 16) & (df.schedule == 'staircase') & (df.pretrained == 'none')]
    paper, bn = " (the paper's)", CELL_DEFAULTS['bn_momentum']
    rates = {f"staircase at lr {lr:g}{paper if lr == SCHEDULE_LR['staircase'] else ''}": cell(lr=lr)
             for lr in sorted(scratch[scratch.bn_momentum == bn].lr.unique())}
    rates |= {f"staircase, BatchNorm momentum {m:g} (Keras' default {1 - m:g})": cell(bn_momentum=m)
              for m in sorted(set(scratch.bn_momentum) - {bn})}
    pt = next(iter(PRETRAIN))
    transfer = {"the paper's staircase (every layer at 0.045)": cell(pretrained=pt),
                "fastai's `fine_tune`": cell(pretrained=pt, schedule='fine_tune', lr=SCHEDULE_LR['fine_tune'])}
    lr_rows = [{'cell': k, **{h: _runs(of_head(d, h)) for h in ('gap:default', 'wise:default', 'wise:paper')}}
               for k, d in rates.items()]
    from wisefast.experiments import results_markdown
    return {k: results_markdown(t) for k, t in dict(
        one_cycle=summary(df[df.schedule == 'one_cycle']), staircase=by_head(staircase, best=('fashion_mnist 8×8',)),
        learning_rates=pd.DataFrame(lr_rows), transfer=by_head(transfer)).items()}

README_MARK = "<!-- head_study.py --readme: {} -->\n\n"

def with_readme_tables(text:str, tables:dict) -> str:
    "`text` with the Markdown table after each `README_MARK` replaced by `tables[name]`"
    for name, t in tables.items():
        m = README_MARK.format(name)
        if m not in text: raise SystemExit(f"head_study.py --readme: no line '{m.strip()}' above the table to replace")
        i = text.index(m) + len(m); j = text.find('\n\n', i)
        text = text[:i] + t.strip('\n') + (text[j:] if j >= 0 else '\n')
    return text

def _bn_cols(g:pd.DataFrame) -> dict:
    "The BatchNorm probe's columns of one head's rows (blank for runs from before the probe)"
    if g.bn_batch_top1.isna().all(): return {}
    return {'batch-stat BN top-1 (%)': _mean_sd(g.bn_batch_top1), 're-estimated BN top-1 (%)': _mean_sd(g.bn_reest_top1)}

def markdown(df:pd.DataFrame, cost:pd.DataFrame, a, info:str) -> str:
    from wisefast.experiments import results_markdown
    out = [f"# Head study: when does a spatial head help?\n\n{info}\n",
           "Final test top-1 (%), mean over seeds (paired difference to GAP, points):\n\n" + results_markdown(summary(df))]
    for title, t in lr_sweeps(df):
        out.append(f"## {title}: learning rates\n\nFinal test top-1 in eval mode (best epoch) → with BatchNorm's statistics "
                   f"re-estimated (%), one seed unless said; each rate's cell, with its command, is below.\n\n" + results_markdown(t))
    for c, d in by_cell(df):
        rows, ms = [], cost[(cost['map'] == c['map']) & (cost.classes == CLASSES[c['task']])].set_index('head').step_ms
        for h, i, g, diff in vs_gap(d):
            step = ms.get(label(h, i), np.nan)
            rows.append({'head': label(h, i), 'seeds': len(g), 'final top-1 (%)': _mean_sd(g.final_top1),
                         'best top-1 (%)': _mean_sd(g.best_top1),
                         'final − GAP (points, paired)': '' if h == 'gap' or not len(diff) else
                             _mean_sd(diff, scale=1, sign=True) + ' (1 seed)' * (len(diff) == 1), **_bn_cols(g),
                         'head parameters': int(g.head_params.iloc[0]), 'step (ms)': f"{step:.1f}",
                         'step / GAP': f"{step / ms.get('gap:default', np.nan):.2f}×"})
        ca = cell_args(a, c, d)
        others = ', '.join(f'`--seed {s}`' for s in sorted(set(d.seed.astype(int)) - {0}))
        second, why = PRETRAIN_RUNS.get(c['pretrained'], (None, ''))
        note = f" {why}" if second is not None and (d.seed >= second).any() else ''
        cmd = ' '.join(shlex.quote(s) for s in ['wisefast', 'compare', *compare_argv(ca, c, 0, f'runs/{cell_name(c)}_s0')])
        out.append(f"## {cell_title(c)} ({MAPS[c['map']]} px)\n\n{TASKS[c['task']]}; {int(d.n_train.iloc[0])} training and "
                   f"{int(d.n_test.iloc[0])} test images ({f'{ca.n_test} of each class' if ca.n_test else 'the whole test split'}), "
                   f"{ca.epochs} epoch{'s' * (ca.epochs != 1)}: `{study_cmd(ca, c)}`. CPU cost: {d.seconds.sum() / 3600:.1f} h "
                   f"of training in all, {d.seconds.mean() / 60:.0f} min a run (one torch thread, a shared 2-core CPU).{note} "
                   f"One seed's command{f' ({others} for the others)' if others else ''}:\n\n"
                   f"```\n{cmd}\n```\n\n" + results_markdown(pd.DataFrame(rows)))
    return '\n'.join(out)

def figure(curves:pd.DataFrame, f:Path):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from wisefast.files import savefig_atomic
    groups = by_cell(curves)
    ncols = min(2, len(groups)); nrows = -(-len(groups)//ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(5*ncols, 4*nrows), squeeze=False)
    colors = {h: f'C{k}' for k, h in enumerate(HEADS.split(','))}   # one colour per head in every panel
    lines = {}
    for ax, (c, d) in zip(axs.flat, groups):
        for (h, i), g in d.groupby(['head', 'init'], sort=False):
            m = g.groupby('epoch').top1.mean()
            lines[label(h, i)], = ax.plot(m.index, 100*m.values, marker='.', color=colors.get(label(h, i)),
                                          lw=2 if h in ('gap', 'wise') else 1)
        ax.set(title=cell_title(c), xlabel='epoch', ylabel='test top-1 (%), mean over seeds')
    for ax in axs.flat[len(groups):]: ax.axis('off')
    fig.legend(lines.values(), lines.keys(), loc='lower center', ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.06 * 3 / max(nrows, 3), 1, 1))
    savefig_atomic(fig, f, dpi=100)
    plt.close(fig)

def report(a):
    out = Path(a.out)
    df, curves = read_rows(out/'head_study.csv'), read_rows(out/'head_study_curves.csv')
    info = (f"{a.arch} from scratch (or from the study's own pre-trained backbone, where a cell says so), output stride 8, "
            f"batches of {a.bs}, the paper's SGD (momentum 0.9), no weight decay, no augmentation; each cell's schedule "
            f"is in its title: none is `fit_one_cycle` at lr 0.05, 'staircase' the paper's (lr 0.045 ×0.94 every 2 "
            f"epochs, all layers trainable), 'fine tune' fastai's `fine_tune` at lr 0.05. Validated on the test split every "
            f"epoch (final: the last epoch, best: the best epoch, optimistic; each cell's epochs and test images are in its "
            f"section). Seeds set the training subset, the "
            f"initialisation and the batch order, the same for every head. Heads: `NAME:default` is the head as "
            f"`wise_learner` builds it (for Wise-SrNet: the GAP start, no dropout), `NAME:paper` as the paper trains it "
            f"(Normal(0, 0.01) init, dropout 0.5). BatchNorm probe (cells that have it): the final model's test top-1 with "
            f"each test batch's own statistics (batches of {a.bs}), and with running statistics re-estimated on the "
            f"training images after training. Cost: the head's parameters, and the median time of one training step "
            f"(batch of {a.bs}, forward, backward, SGD; one thread) of each head's model for the map and number of classes, measured side by side in one "
            f"process, rounds interleaved (`head_study_cost.csv`). Reproduce: each cell's `head_study.py` command is in its section "
            f"(resumable; `--report` redraws from the CSVs).")
    fcost = out/'head_study_cost.csv'
    cost = pd.read_csv(fcost) if fcost.exists() else None
    if cost is None or 'classes' not in cost: cost = pd.DataFrame(columns=['map', 'classes', 'head', 'step_ms'])
    for fmap, n_out in sorted({(m, CLASSES[t]) for t, m in zip(df.task, df['map'])}):
        heads = cell_heads(df[(df['map'] == fmap) & (df.task.map(CLASSES) == n_out)])
        have = cost[(cost['map'] == fmap) & (cost.classes == n_out)]
        if set(heads) <= set(have['head']): continue
        heads = list(dict.fromkeys([*have['head'], *heads]))          # all of them again, side by side
        cost = pd.concat([cost.drop(have.index), pd.DataFrame([dict(map=fmap, classes=n_out, head=h, step_ms=v)
                                              for h, v in step_times(a, heads, fmap, n_out).items()])], ignore_index=True)
        _save(cost, fcost)
    _write(out/'head_study.md', markdown(df, cost, a, info))
    figure(curves, out/'head_study.png')
    if a.readme: _write(a.readme, with_readme_tables(Path(a.readme).read_text(), readme_tables(df)))

def main(argv=None):
    a = parse_args(argv)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    if a.report:
        with locked(out): return report(a)
    from wisefast.cli import main as wisefast
    from wisefast.experiments import check_heads
    check_heads(a.heads)
    f, fc = out/'head_study.csv', out/'head_study_curves.csv'
    for c in cells(a):
        for seed in [int(s) for s in a.seeds.split(',')]:
            todo, heads = seed_heads(a, read_rows(f), c, seed)
            if not todo: continue
            weights = pretrained_backbone(a, c['pretrained']) if c['pretrained'] != 'none' else None
            run = Path(a.runs)/cell_name(c)/f's{seed}'
            print(f"[head study] {cell_title(c)} seed {seed}: {', '.join(todo)} -> {run}", flush=True)
            if rc := wisefast(['compare', *compare_argv(with_heads(a, heads), c, seed, run, weights)]): sys.exit(rc)
            rows, curves = run_rows(with_heads(a, todo), c, seed, run)
            with locked(out):
                _save(pd.concat([read_rows(f), pd.DataFrame(rows)])[COLS], f)
                old = read_rows(fc) if fc.exists() else None
                _save(pd.concat([old, pd.DataFrame(curves)]) if old is not None else pd.DataFrame(curves), fc)
                report(a)

if __name__ == '__main__': main()
