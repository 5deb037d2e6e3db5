"""Does `wise_learner` train at least as well as GAP in the workflows fastai users run, and as fast as `vision_learner`?

    python benchmarks/fastai_workflows.py                      # both parts, results in benchmarks/results/
    python benchmarks/fastai_workflows.py --part workflows --seeds 3 --short 2 --long 10
    python benchmarks/fastai_workflows.py --part throughput --repeats 3
    python benchmarks/fastai_workflows.py --smoke              # a minute: every code path, tiny budgets, no results
    python benchmarks/fastai_workflows.py --part workflows --report   # the Markdown again from the CSV

**Workflows.** Fashion-MNIST (the full dataset when installed, else the sample shipped with wisefast) at 64 px,
timm's `test_resnet` (a real ResNet with tiny widths, 2×2 map at 64 px), batches of 64, no augmentation. Each seed
draws `--n-train` training images per class, and a disjoint set of `--n-pretrain` per class on which a GAP model is
pre-trained for the `fine_tune` workflow; every run is scored on the whole test split. Heads, side by side with the
same seed (same data order, same body init): `gap`, fastai's `create_head`, the Wise-SrNet head with
`wise_learner`'s defaults, and with one default changed at a time (each other `init`, the paper's dropout). Workflows, each at a short and a long budget (epochs):

- `fit_one_cycle`: `learn.fit_one_cycle(n)` at fastai's default lr, from scratch;
- `lr_find`: `learn.fit_one_cycle(n, learn.lr_find().valley)`, from scratch;
- `fine_tune`: `learn.fine_tune(n - 1)` (one frozen epoch, then n - 1) from the pre-trained body (`pretrained=file`);
- `staircase`: the paper's SGD (0.045, momentum 0.9, ×0.94 every 2 epochs), `learn.fit_staircase(n)`, from scratch.

**Throughput.** `--n-images` Fashion-MNIST PNGs in class folders, resnet10t at 64 px, batches of 64, one torch
thread, fastai's default DataLoader workers; images per second over one training epoch (train phase only) of
`wise_dls` + `wise_learner`, of `ImageDataLoaders` + `vision_learner`, and of the wise model's forward + backward on
in-memory tensors (the compute limit, in its faster memory format; also with PyTorch's foreach AdamW step),
interleaved, `--repeats` times.
"""
import argparse, contextlib, io, json, os, platform, random, shlex, statistics, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT/'benchmarks'/'results'
WORKFLOWS = ('fit_one_cycle', 'lr_find', 'fine_tune', 'staircase')

def quiet():
    "Silence fastai's progress output and the warnings a benchmark does not need"
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter('ignore')
    return stack

# ---------------------------------------------------------------------------------------------------------------- data
def split_indices(labels, n_train:int, n_pretrain:int, seed:int):
    "Per class: `n_train` study indices and a disjoint `n_pretrain` (at most what is left), drawn with `seed`"
    rng, tr, pre = np.random.default_rng(seed), [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        tr += list(idx[:n_train]); pre += list(idx[n_train:n_train + n_pretrain])
    return sorted(tr), sorted(pre)

def fashion_mnist(n_test=None):
    "`(train images, train labels, class names, [(test image, name)], where)`: the full dataset, else the sample"
    from wisefast.datasets import fashion_mnist_path, is_sample, load_fashion_mnist, FASHION_MNIST_CLASSES
    with quiet(): root = fashion_mnist_path()
    data = load_fashion_mnist(root)
    (xs, ys), (xt, yt) = data['train'], data['test']
    names = np.array(FASHION_MNIST_CLASSES)
    test = list(zip(xt, names[yt]))
    if n_test: test = [test[i] for i in split_indices(yt, n_test, 0, 0)[0]]
    return xs, ys, names, test, 'sample shipped with wisefast' if is_sample(root) else 'full dataset'

def make_dls(train, valid, bs=64, size=64, preprocess=None):
    "`wise_dls` of `(array, label)` splits (stretch to `size`, no augmentation)"
    from wisefast.data import wise_dls
    return wise_dls(dict(train=train, valid=valid), size=size, bs=bs, augment=False, preprocess=preprocess, num_workers=0)

def seeded_runs(a, configs, run) -> tuple:
    """`run(dls, test, **config)` (a dict of results) for every config of `configs`, on `a.n_train` images per class
    drawn with each seed of `a`; the same batches for every config of a seed. `(rows as a DataFrame, info)`"""
    xs, ys, names, test, where = fashion_mnist(a.n_test)
    print(f"Fashion-MNIST ({where}): {a.n_train}/class training, {len(test)} test images, {a.size} px", flush=True)
    rows, t_all = [], time.perf_counter()
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        tr, _ = split_indices(ys, a.n_train, 0, seed)
        dls = make_dls(list(zip(xs[tr], names[ys[tr]])), test[:a.n_valid], size=a.size)
        for cfg in configs:
            t = time.perf_counter()
            reseed(dls, seed)
            with quiet(): res = run(dls, test, **cfg)
            rows.append(dict(seed=seed, **cfg, **res, seconds=time.perf_counter() - t))
            print(f"  seed {seed} {' '.join(map(str, cfg.values()))}: {res}  {rows[-1]['seconds']:.0f} s", flush=True)
            if a.csv: _write(a.csv, pd.DataFrame(rows).to_csv(index=False))
    return pd.DataFrame(rows), dict(where=where, n_test=len(test), minutes=(time.perf_counter() - t_all) / 60)

def add_study_args(p, n_train:int, epochs:int, size:int):
    "The arguments of a `seeded_runs` study, with these defaults"
    a = p.add_argument
    a('--size', type=int, default=size)
    a('--n-train', type=int, default=n_train, help="training images per class")
    a('--n-test', type=int, default=None, help="test images per class (default: the whole test split)")
    a('--n-valid', type=int, default=500, help="test images shown as fastai's per-epoch validation")
    a('--epochs', type=int, default=epochs)
    a('--seeds', type=int, default=3)
    a('--first-seed', type=int, default=0, help="seeds FIRST_SEED, FIRST_SEED + 1, ...")
    a('--threads', type=int, default=1)
    a('--out', default=str(OUT))
    a('--smoke', action='store_true', help="every code path on tiny budgets; writes nothing")
    return p

# ------------------------------------------------------------------------------------------------------------ workflows
DEFAULT = 'wise (default)'

def head_runs():
    "Heads to compare: label -> `wise_learner` arguments; the Wise-SrNet head with its defaults, then one change each"
    from wisefast.paper import HEAD_INITS, DEFAULT_INIT, DEFAULT_PS, PAPER_PS
    runs = {'gap': dict(head='gap'), 'fastai': dict(head='fastai'), DEFAULT: dict(head='wise')}
    for i in HEAD_INITS:
        if i != DEFAULT_INIT: runs[f'wise, init={i}'] = dict(head='wise', init=i)
    if PAPER_PS != DEFAULT_PS: runs[f'wise, ps={PAPER_PS}'] = dict(head='wise', ps=PAPER_PS)
    return runs

def pretrain_body(dls, arch, seed, epochs, file):
    "A GAP model trained on the pre-training images; its body saved to `file` (timm's state-dict keys)"
    from safetensors.torch import save_file
    from fastai.metrics import accuracy
    from wisefast.learner import wise_learner
    reseed(dls, seed + 1000)     # not the runs' seed: a head drawn like this one would start matched to the body
    with quiet():
        learn = wise_learner(dls, arch, head='gap', pretrained=False, metrics=accuracy)
        learn.fit_one_cycle(epochs, 1e-2)
    save_file({k: v.contiguous() for k, v in learn.model[0].state_dict().items()}, str(file))
    with quiet(): return float(learn.validate()[1]) if len(dls.valid_ds) else float('nan')

def reseed(dls, seed):
    "fastai's `set_seed`, and the DataLoaders' own shuffling generators (drawn when they were made)"
    from fastai.torch_core import set_seed
    set_seed(seed)
    for dl in dls.loaders: dl.rng = random.Random(seed)

def run_one(dls, test, arch, kw, workflow, epochs, seed, body_file, lr_cache):
    "Train one (head, workflow, budget) cell from seed `seed`; its accuracy on the `test` items and its lr"
    from fastai.metrics import accuracy
    from wisefast.learner import wise_learner
    import wisefast.schedule                                       # `Learner.fit_staircase`
    reseed(dls, seed)
    with quiet():
        pretrained = body_file if workflow == 'fine_tune' else False
        learn = wise_learner(dls, arch, pretrained=pretrained, metrics=accuracy, **kw)
        lr = None
        if workflow == 'fit_one_cycle': learn.fit_one_cycle(epochs)
        elif workflow == 'lr_find':
            key = (str(kw), seed)
            if key not in lr_cache: lr_cache[key] = float(learn.lr_find(show_plot=False).valley)
            lr = lr_cache[key]
            reseed(dls, seed)                                   # the same batches as without lr_find
            learn.fit_one_cycle(epochs, lr)
        elif workflow == 'fine_tune': learn.fine_tune(epochs - 1)
        elif workflow == 'staircase': learn.fit_staircase(epochs)
        acc = float(learn.validate(dl=learn.dls.test_dl(test, with_labels=True))[1])
    return acc, lr

def workflows(a):
    import timm
    xs, ys, names, test, where = fashion_mnist(a.n_test)
    runs, rows, lr_cache = head_runs(), [], {}
    if a.heads:
        wanted = [h.strip() for h in a.heads.split(';')]
        if unknown := [h for h in wanted if h not in runs]:
            raise SystemExit(f"Unknown head label(s) {unknown}: choose from {list(runs)} (separate them with ';').")
        runs = {k: v for k, v in runs.items() if k in wanted}
    print(f"Fashion-MNIST ({where}): {a.n_train}/class training, {a.n_pretrain}/class pre-training, "
          f"{len(test)} test images; {a.arch} at {a.size} px; heads {list(runs)}", flush=True)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            tr, pre = split_indices(ys, a.n_train, a.n_pretrain, seed)
            train = list(zip(xs[tr], names[ys[tr]]))
            valid = [test[i] for i in range(0, len(test), max(1, len(test) // a.n_valid))][:a.n_valid]
            dls = make_dls(train, valid, size=a.size)
            body = Path(tmp)/f'body{seed}.safetensors'
            stats = timm.get_pretrained_cfg(a.arch).to_dict()          # what `pretrained=file` normalises with
            pdls = make_dls(list(zip(xs[pre], names[ys[pre]])), valid, size=a.size, preprocess=stats)
            pre_acc = pretrain_body(pdls, a.arch, seed, a.pretrain_epochs, body)
            print(f"seed {seed}: body pre-trained on {len(pre)} images, {a.pretrain_epochs} epochs "
                  f"(valid {pre_acc:.3f})", flush=True)
            for wf in a.workflows:
                for budget, epochs in (('short', a.short), ('long', a.long)):
                    for label, kw in runs.items():
                        t = time.perf_counter()
                        wdls = make_dls(train, valid, size=a.size) if wf == 'fine_tune' else dls   # gets the stats added
                        acc, lr = run_one(wdls, test, a.arch, kw, wf, epochs, seed, body, lr_cache)
                        rows.append(dict(seed=seed, workflow=wf, budget=budget, epochs=epochs, head=label, accuracy=acc,
                                         lr=lr, seconds=time.perf_counter() - t))
                        print(f"  {wf:13s} {budget:5s} ({epochs:2d} ep) {label:28s} {acc:.4f}"
                              f"{f'  lr {lr:.2e}' if lr else ''}  {rows[-1]['seconds']:.0f} s", flush=True)
                        if a.csv: _write(a.csv, pd.DataFrame(rows).to_csv(index=False))
    return pd.DataFrame(rows), dict(where=where, n_test=len(test), minutes=(time.perf_counter() - t_all) / 60,
                                    command=' '.join(['python benchmarks/fastai_workflows.py', *map(shlex.quote, sys.argv[1:])]))

def mean_sd(x, digits:int=4) -> str:
    "`mean ± sd (each value)` of accuracies `x`"
    x = list(x)
    return (f"{np.mean(x):.{digits}f} ± {np.std(x, ddof=1) if len(x) > 1 else 0:.{digits}f} "
            f"({', '.join(f'{v:.3f}' for v in x)})")

def mean_se(d) -> tuple:
    "Mean and standard error of paired differences `d` (NaN for one)"
    return float(np.mean(d)), float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float('nan')

def paired(df, head, base) -> pd.Series:
    "`head`'s test accuracy minus `base`'s in points, per (workflow, budget, seed) both ran"
    acc = df.set_index(['workflow', 'budget', 'seed', 'head']).accuracy.unstack()
    return 100 * (acc[head] - acc[base]).dropna()

def workflows_markdown(df, info, a) -> str:
    from wisefast.experiments import results_markdown
    from wisefast.paper import DEFAULT_INIT, DEFAULT_PS
    default, base = DEFAULT, 'gap'
    heads, g = [h for h in head_runs() if h in set(df['head'])], df.groupby(['workflow', 'budget', 'head']).accuracy
    mean, sd = g.mean().unstack().reindex(columns=heads), g.std().unstack().reindex(columns=heads)
    order = [(w, b) for w in a.workflows for b in ('short', 'long') if (w, b) in mean.index]
    mean, sd = mean.loc[order], sd.loc[order]
    table = pd.DataFrame({'workflow': [w for w, _ in order], 'budget': [b for _, b in order],
                          'epochs': [a.short if b == 'short' else a.long for _, b in order]})
    for h in heads: table[h] = [f"{100*m:.2f} ± {100*s:.2f}" for m, s in zip(mean[h], sd[h].fillna(0))]
    g2 = paired(df, default, base).groupby(level=[0, 1])
    pmean, psd, pn = g2.mean(), g2.std().fillna(0), g2.size()
    table['default − gap (points)'] = [f"{pmean[k]:+.2f} ± {psd[k]:.2f} (n={pn[k]})" for k in order]
    noise = [k for k in order if abs(pmean[k]) < 2 * psd[k] / np.sqrt(max(pn[k], 1))]
    ok_all = bool((pmean > -0.5).all()); ok_long = bool((pmean[[k for k in order if k[1] == 'long']] >= 0).all())
    lrs = df[df.workflow == 'lr_find'].groupby('head').lr.median()
    n = info.get('processes', 1)
    ns = df.groupby('head').seed.agg(lambda s: f"{s.min()}–{s.max()}" if s.nunique() > 1 else str(s.min()))
    seeds_txt = '; '.join(f"{h}: seeds {ns[h]}" for h in heads)
    cmd = (f"`{info['command']}`" if n == 1 else
           f"{n} runs, their CSVs then merged: " + '; '.join(f"`{c}`" for c in info['commands']))
    par = f" over the {n} runs" if n > 1 else ''
    lines = ["# fastai workflows: the Wise-SrNet head against GAP", "",
             f"Commands: {cmd}. Machine: {platform.machine()}, {os.cpu_count()} CPUs shared with other jobs, "
             f"torch {torch.__version__}, one thread per process; {info['minutes']:.0f} min of training{par}."
             + (f" {info['note']}" if info.get('note') else ''), "",
             f"Fashion-MNIST ({info['where']}), {a.n_train} training images per class drawn per seed, the body of "
             f"`fine_tune` pre-trained ({a.pretrain_epochs} epochs, GAP) on {a.n_pretrain} other images per class; "
             f"{a.arch} at {a.size} px (a 2×2 map), batches of 64, no augmentation. Test top-1 accuracy (%) on "
             f"{info['n_test']} test images, mean ± sd over seeds ({seeds_txt}; the same seed gives every head the "
             f"same data, order and body initialisation); the last column is the paired difference, mean ± sd over "
             f"the n seeds both ran. `wise (default)` is "
             f"`wise_learner(dls, arch)`: init={DEFAULT_INIT!r}, ps={DEFAULT_PS}; each `wise, ...` column changes one of "
             f"them; `fastai` is `vision_learner`'s head.", "",
             results_markdown(table), "",
             f"**Goal: the default Wise-SrNet head within 0.5 points of GAP in every cell: "
             f"{'met' if ok_all else 'not met'}; at least equal at the long budget: {'met' if ok_long else 'not met'}.**",
             "", f"Cells whose paired difference is within two standard errors of zero (|mean| < 2·sd/√n): {len(noise)} "
             f"of {len(order)}" + (f" ({', '.join(f'{w} {b}' for w, b in noise)})." if noise else "."),
             "", "Each head against GAP over the cells (paired differences on the seeds both ran, points): " +
             '; '.join(f"{h}: average {d.mean():+.2f}, worst {d.min():+.2f} ({' '.join(d.idxmin())})"
                       for h, d in ((h, paired(df, h, base).groupby(level=[0, 1]).mean().reindex(order)) for h in heads if h != base)) + ".",
             "", "`lr_find` suggestions (median over seeds): " +
             ', '.join(f"{h} {v:.1e}" for h, v in lrs.items()), ""]
    return '\n'.join(lines)

# ----------------------------------------------------------------------------------------------------------- throughput
def throughput(a):
    from fastai.vision.all import Callback, ImageDataLoaders, Resize, vision_learner
    from wisefast.data import wise_dls
    from wisefast.learner import wise_learner
    from wisefast.datasets import load_fashion_mnist, FASHION_MNIST_CLASSES
    from PIL import Image
    torch.set_num_threads(1)
    xs, ys = load_fashion_mnist()['train']
    res = {'wise_learner': [], 'vision_learner': [], 'forward+backward, contiguous': [],
           'forward+backward, channels-last': [], 'forward+backward+AdamW (torch, foreach), channels-last': []}
    with tempfile.TemporaryDirectory() as d:
        per = a.n_images // 10
        idx = split_indices(ys, per, 0, 0)[0]
        for i in idx:
            f = Path(d)/FASHION_MNIST_CLASSES[ys[i]].replace('/', '-')/f'{i}.png'
            f.parent.mkdir(exist_ok=True); Image.fromarray(xs[i]).save(f)
        with quiet():
            wdls = wise_dls(d, size=a.size, bs=64, augment=False, valid_pct=0.05, seed=0)
            fdls = ImageDataLoaders.from_folder(d, valid_pct=0.05, seed=0, item_tfms=Resize(a.size, method='squish'), bs=64)
            wl = wise_learner(wdls, a.arch, pretrained=False)
            vl = vision_learner(fdls, a.arch, pretrained=False)
        n_train = len(wdls.train) * 64
        model = wl.model
        x = torch.rand(64, 3, a.size, a.size); y = torch.randint(0, 10, (64,))
        def limit(fmt, step=False):
            "the model alone: forward + backward (+ an optimizer step) on one in-memory batch, as many times as `fit`"
            opt = torch.optim.AdamW(model.parameters(), 1e-4, foreach=True)
            xx = x.contiguous(memory_format=fmt)
            model.train()                                    # as in `fit` (which leaves it in eval mode)
            t = time.perf_counter()
            for _ in range(len(wdls.train)):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xx), y).backward()
                if step: opt.step()
            return n_train / (time.perf_counter() - t)
        def fit(learn):
            "images/s of one epoch's train phase (data loading included, validation not)"
            class Timer(Callback):
                order = -100
                def before_train(self): self.t0 = time.perf_counter()
                def after_train(self): self.secs = time.perf_counter() - self.t0
            timer = Timer()
            with quiet(), learn.no_bar(): learn.fit(1, 1e-4, cbs=timer)
            return len(learn.dls.train) * learn.dls.train.bs / timer.secs
        fit(wl); fit(vl); limit(torch.contiguous_format)                       # warm-up: workers, allocator, caches
        for r in range(a.repeats):
            res['wise_learner'].append(fit(wl))
            res['vision_learner'].append(fit(vl))
            res['forward+backward, contiguous'].append(limit(torch.contiguous_format))
            res['forward+backward, channels-last'].append(limit(torch.channels_last))
            res['forward+backward+AdamW (torch, foreach), channels-last'].append(limit(torch.channels_last, step=True))
            print(f"repeat {r + 1}: " + ', '.join(f"{k} {v[-1]:.0f}" for k, v in res.items()) + " images/s", flush=True)
    return res, dict(n_images=len(idx), n_train=n_train, workers=wdls.train.fake_l.num_workers)

def throughput_markdown(res, info, a) -> str:
    med = {k: statistics.median(v) for k, v in res.items()}
    fmt = max(('forward+backward, contiguous', 'forward+backward, channels-last'), key=med.get)   # the faster format
    vl = [w / v for w, v in zip(res['wise_learner'], res['vision_learner'])]       # ratios within each repeat
    lim = [w / l for w, l in zip(res['wise_learner'], res[fmt])]
    r_vl, r_lim = statistics.median(vl), statistics.median(lim)
    rng = lambda rs: f"repeats {min(rs):.2f}–{max(rs):.2f}"
    rows = '\n'.join(f"| {k} | {med[k]:.0f} | {', '.join(f'{v:.0f}' for v in vs)} |" for k, vs in res.items())
    return '\n'.join([
        "# Training throughput: wise_learner against vision_learner and the compute limit", "",
        f"Command: `python benchmarks/fastai_workflows.py --part throughput --repeats {a.repeats}`. Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPUs shared with other jobs, torch {torch.__version__}, one torch "
        f"thread, {info['workers']} DataLoader workers (fastai's default). {info['n_images']} Fashion-MNIST PNGs in "
        f"class folders, {a.arch} at {a.size} px, batches of 64, one training epoch ({info['n_train']} images, "
        f"validation not timed); the three measured in turn, {a.repeats} times.", "",
        "| pipeline | images/s (median) | each repeat |", "|---|---:|---|", rows, "",
        f"**wise_learner / vision_learner: {r_vl:.2f}× ({rng(vl)}; goal ≥ 1.0: {'met' if r_vl >= 1 else 'not met'}); "
        f"wise_learner / the model's forward+backward ({fmt.split(', ')[1]}, its faster memory format): {r_lim:.2f} "
        f"({rng(lim)}; goal ≥ 0.9: {'met' if r_lim >= 0.9 else 'not met'}).** Ratios are medians of the ratios "
        f"measured within each repeat. A training step also has an optimizer step: the last row adds PyTorch's "
        f"fastest AdamW to the limit.", ""])

# ----------------------------------------------------------------------------------------------------------------- main
def _write(path, text):
    from wisefast.callbacks import write_atomic
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--part', choices=('workflows', 'throughput', 'both'), default='both')
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--first-seed', type=int, default=0, help="seeds FIRST_SEED, FIRST_SEED + 1, ... (to add seeds to a run)")
    p.add_argument('--heads', help="labels of the heads to train, separated by ';' (labels contain commas; default: all)")
    p.add_argument('--short', type=int, default=2, help="short budget, epochs")
    p.add_argument('--long', type=int, default=10, help="long budget, epochs")
    p.add_argument('--workflows', default=','.join(WORKFLOWS))
    p.add_argument('--n-train', type=int, default=200, help="training images per class")
    p.add_argument('--n-pretrain', type=int, default=300, help="pre-training images per class (at most what is left)")
    p.add_argument('--pretrain-epochs', type=int, default=5)
    p.add_argument('--n-test', type=int, default=None, help="test images per class (default: the whole test split)")
    p.add_argument('--n-valid', type=int, default=500, help="test images shown as fastai's per-epoch validation")
    p.add_argument('--arch', default='test_resnet')
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--n-images', type=int, default=1200)
    p.add_argument('--tp-arch', default='resnet10t')
    p.add_argument('--out', default=str(OUT))
    p.add_argument('--smoke', action='store_true', help="every code path on tiny budgets; writes nothing")
    p.add_argument('--note', help="with --report: a sentence for the Markdown, e.g. which rows of which CSV were replaced")
    p.add_argument('--report', action='store_true', help="rewrite the workflows' Markdown from their CSV, no training")
    p.add_argument('--csv', help="the workflows' CSV (default: OUT/fastai_workflows.csv); with --report, a comma-separated list")
    a = p.parse_args(argv)
    a.workflows = a.workflows.split(',')
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
    torch.set_num_threads(a.threads)
    if a.smoke: a.seeds, a.short, a.long, a.n_train, a.n_pretrain, a.pretrain_epochs, a.n_test, a.n_valid, a.repeats, \
        a.n_images = 1, 1, 2, 20, 20, 1, 10, 50, 1, 200
    out = Path(a.out)
    a.csv = None if a.smoke else (a.csv or str(out/'fastai_workflows.csv'))
    if a.part in ('workflows', 'both'):
        if a.report:                                    # the runs of one or more processes (`--csv a.csv,b.csv`)
            files = [Path(f) for f in a.csv.split(',')]
            df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
            infos = [json.loads(f.with_suffix('.json').read_text()) for f in files]
            info = {**infos[0], 'minutes': df.seconds.sum() / 60, 'processes': len(files), 'note': a.note,
                    'commands': [i.get('command', '?') for i in infos] +
                                [f"python benchmarks/fastai_workflows.py --part workflows --report --csv {a.csv}"]}
            a.workflows = [w for w in WORKFLOWS if w in set(df.workflow)]
        else:
            df, info = workflows(a)
            if not a.smoke: _write(Path(a.csv).with_suffix('.json'), json.dumps(info))
        md = workflows_markdown(df, info, a)
        print(md)
        if not a.smoke: _write(out/'fastai_workflows.md', md)
    if a.part in ('throughput', 'both'):
        arch, a.arch = a.arch, a.tp_arch
        res, info = throughput(a)
        md = throughput_markdown(res, info, a)
        a.arch = arch
        print(md)
        if not a.smoke: _write(out/'fastai_throughput.md', md)

if __name__ == '__main__': main()
