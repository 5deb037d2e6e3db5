"""Does `wise_learner` train at least as well as GAP in the workflows fastai users run, and as fast as `vision_learner`?

    python benchmarks/fastai_workflows.py                      # both parts, results in benchmarks/results/
    python benchmarks/fastai_workflows.py --part workflows --seeds 3 --short 2 --long 10
    python benchmarks/fastai_workflows.py --part throughput --repeats 3
    python benchmarks/fastai_workflows.py --part precision --repeats 5 --seeds 3   # `to_bf16()` on a CPU
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
thread, fastai's default DataLoader workers (or `--workers`); images per second over one training epoch (train phase
only, each learner's default optimiser) of `wise_dls` + `wise_learner` (with its `FusedAdam`, and with fastai's `Adam`),
of `ImageDataLoaders` + `vision_learner`, and of the model's own step on an in-memory batch: forward, loss, backward and
the learner's own optimiser (`learn.create_opt()`), in each memory format; for reference also with fastai's `Adam`, and
without a step; interleaved, `--repeats` times. One optimiser step alone (`Adam` against `FusedAdam`) is timed too.
Each learner's epoch is split into the wait for the first batch, the time between steps, the steps and the end.
`--profile` prints where one wise_learner epoch spends this process's time (cProfile).

**Precision.** `learn.to_bf16()` on a CPU with bfloat16 instructions (AVX512-BF16 or AMX), where `wise_learner`
autocasts and fastai's `MixedPrecision` does nothing: the throughput setting's epoch for `wise_learner` in fp32 and
bfloat16 and `vision_learner` in fp32 and with `to_bf16()`, interleaved `--repeats` times; then the accuracy cost:
`wise_learner` (its defaults) trained with `fit_one_cycle(--long)` from scratch on `--n-train` Fashion-MNIST images
per class in fp32 and in bfloat16, same seed, same batches, scored on the test split, `--seeds` seeds.
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
    save_file({k: v.contiguous() for k, v in learn.model[0].model.state_dict().items()}, str(file))   # timm's names
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
                                    command=this_command())

def this_command() -> str:
    "The command line that runs this process, to print beside its results"
    return ' '.join(['python benchmarks/fastai_workflows.py', *map(shlex.quote, sys.argv[1:])])

def rate_rows(res) -> str:
    "Markdown rows `| pipeline | median | each repeat |` of images/s `res`"
    return '\n'.join(f"| {k} | {statistics.median(v):.0f} | {', '.join(f'{x:.0f}' for x in v)} |" for k, v in res.items())

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
WISE, FASTAI, WISE_ADAM = 'wise_learner', 'vision_learner', "wise_learner, opt_func=Adam (fastai's)"
OWN = "model's own step: forward + backward + the learner's optimiser (FusedAdam)"
ADAM, FB = "forward + backward + fastai's Adam", 'forward + backward'

def png_folder(d, n_images:int) -> int:
    "`n_images` Fashion-MNIST training images (as many of each class) as PNG files in class folders of `d`; how many"
    from PIL import Image
    from wisefast.datasets import load_fashion_mnist, FASHION_MNIST_CLASSES
    xs, ys = load_fashion_mnist()['train']
    idx = split_indices(ys, n_images // 10, 0, 0)[0]
    for i in idx:
        f = Path(d)/FASHION_MNIST_CLASSES[ys[i]].replace('/', '-')/f'{i}.png'
        f.parent.mkdir(exist_ok=True); Image.fromarray(xs[i]).save(f)
    return len(idx)

def epoch_parts():
    "A callback timing one epoch's train phase: the wait for the first batch, the time between steps, the steps, the end"
    from fastai.callback.core import Callback
    class EpochParts(Callback):
        order = -100                        # first in every event: its step is the learner's step with every callback
        def before_train(self): self.t0 = self.last = time.perf_counter(); self.gaps, self.steps = [], []
        def before_batch(self):
            if self.training: self.t = time.perf_counter(); self.gaps.append(self.t - self.last)
        def after_batch(self):
            if self.training: self.last = time.perf_counter(); self.steps.append(self.last - self.t)
        def after_train(self):
            self.secs = time.perf_counter() - self.t0
            self.parts = dict(first=self.gaps[0], gaps=sum(self.gaps[1:]), steps=sum(self.steps),
                              end=self.secs - sum(self.gaps) - sum(self.steps), step=statistics.median(self.steps))
    return EpochParts()

def fit_rate(learn) -> tuple:
    "`(images/s, parts)` of one epoch's train phase (data loading included, validation not): `learn.fit(1, 1e-4)`"
    cb = epoch_parts()
    with quiet(), learn.no_bar(): learn.fit(1, 1e-4, cbs=cb)
    return len(learn.dls.train) * learn.dls.train.bs / cb.secs, cb.parts

def step_rate(learn, x, y, n:int, opt='learner') -> float:
    """Images/s of `n` training steps of `learn`'s model on the in-memory batch `(x, y)`: forward, `learn.loss_func`,
    backward and `opt`: 'learner' (the learner's own, as `fit` makes it), an optimiser, or `None` (no step)"""
    model = learn.model.train()
    if opt == 'learner': learn.create_opt(); learn.opt.set_hypers(lr=1e-4); opt = learn.opt
    t = time.perf_counter()
    for _ in range(n):
        learn.loss_func(model(x), y).backward()
        if opt is not None: opt.step()
        (opt or model).zero_grad()
    return n * len(x) / (time.perf_counter() - t)

def throughput_learners(d, a):
    "`(wise_learner, vision_learner)` on the PNG folder `d`, as the throughput part builds them"
    from fastai.vision.all import ImageDataLoaders, Resize, vision_learner
    from wisefast.data import wise_dls
    from wisefast.learner import wise_learner
    with quiet():
        wdls = wise_dls(d, size=a.size, bs=64, augment=False, valid_pct=0.05, seed=0, num_workers=a.workers)
        fdls = ImageDataLoaders.from_folder(d, valid_pct=0.05, seed=0, item_tfms=Resize(a.size, method='squish'), bs=64,
                                            num_workers=a.workers)
        return wise_learner(wdls, a.arch, pretrained=False), vision_learner(fdls, a.arch, pretrained=False)

def opt_step_ms(ps:list, opt_funcs:dict, repeats:int, n:int=20) -> dict:
    "Milliseconds per `step()` of each of `opt_funcs` over `ps` (random gradients; `ps` restored after), interleaved"
    opts = {k: f(ps, lr=1e-4) for k, f in opt_funcs.items()}
    res = {k: [] for k in opts}
    with torch.no_grad():
        saved = [p.clone() for p in ps]
        for p in ps: p.grad = torch.randn_like(p) * 1e-3
        for _ in range(repeats):
            for k, o in opts.items():
                t = time.perf_counter()
                for _ in range(n): o.step()
                res[k].append((time.perf_counter() - t) / n * 1000)
        for p, v in zip(ps, saved): p.copy_(v); p.grad = None
    return {k: statistics.median(v) for k, v in res.items()}

def throughput(a):
    from fastai.optimizer import Adam
    from wisefast.learner import wise_learner
    from wisefast.optimizer import FusedAdam
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        n_images = png_folder(d, a.n_images)
        wl, vl = throughput_learners(d, a)
        with quiet(): wa = wise_learner(wl.dls, a.arch, pretrained=False, opt_func=Adam)   # the same DataLoaders
        wdls, n = wl.dls, len(wl.dls.train)
        y = torch.randint(0, 10, (64,))
        x = {f: torch.rand(64, 3, a.size, a.size).contiguous(memory_format=m)
             for f, m in (('channels-last', torch.channels_last), ('contiguous', torch.contiguous_format))}
        ps = list(wl.model.parameters())
        opt_ms = opt_step_ms(ps, {'Adam': Adam, 'FusedAdam': FusedAdam}, a.repeats)
        runs = {WISE: lambda: fit_rate(wl), **{f"{OWN}, {f}": (lambda f=f: step_rate(wl, x[f], y, n)) for f in x},
                FASTAI: lambda: fit_rate(vl), WISE_ADAM: lambda: fit_rate(wa),   # each ratio's two rows close in time
                f"{ADAM}, channels-last": lambda: step_rate(wa, x['channels-last'], y, n),
                f"{FB}, channels-last": lambda: step_rate(wl, x['channels-last'], y, n, None)}
        for fn in runs.values(): fn()                                    # warm-up: workers, allocator, caches
        if a.profile: profile_epoch(wl)
        res, parts = {k: [] for k in runs}, {WISE: [], WISE_ADAM: [], FASTAI: []}
        for r in range(a.repeats):
            for k, fn in runs.items():
                v = fn()
                if k in parts: v, p = v; parts[k].append(p)
                res[k].append(v)
            print(f"repeat {r + 1}: " + ', '.join(f"{k} {v[-1]:.0f}" for k, v in res.items()) + " images/s", flush=True)
    return res, dict(n_images=n_images, n_train=n * 64, workers=wdls.train.fake_l.num_workers, parts=parts,
                     load=os.getloadavg()[0], opt_ms=opt_ms, n_params=sum(p.numel() for p in ps), n_tensors=len(ps))

def profile_epoch(learn, top:int=25):
    "Print the functions taking the most time in one `fit_rate(learn)` epoch of this process (cProfile)"
    import cProfile, pstats
    pr = cProfile.Profile()
    pr.runcall(fit_rate, learn)
    pstats.Stats(pr).sort_stats('tottime').print_stats(top)

def throughput_markdown(res, info, a) -> str:
    own = [k for k in res if k.startswith(OWN)]
    limit = [max(vs) for vs in zip(*(res[k] for k in own))]           # the faster memory format, in each repeat
    ratio = lambda k, base: [w / b for w, b in zip(res[k], base)]      # within each repeat
    rs = {'vl': ratio(WISE, res[FASTAI]), 'own': ratio(WISE, limit), 'adam_vl': ratio(WISE_ADAM, res[FASTAI]),
          'wise_fused': ratio(WISE, res[WISE_ADAM]), 'own_fused': ratio(f"{OWN}, channels-last", res[f"{ADAM}, channels-last"])}
    m = {k: statistics.median(v) for k, v in rs.items()}
    rng = lambda k: f"repeats {min(rs[k]):.2f}–{max(rs[k]):.2f}"
    def part_row(name, key, ms=False):
        cells = [statistics.median([p[key] * (1000 if ms else 1) for p in info['parts'][k]]) for k in (WISE, FASTAI)]
        return f"| {name} | " + ' | '.join(f"{c:.0f} ms" if ms else f"{c:.2f} s" for c in cells) + " |"
    own_ms = statistics.median(64_000 / v for v in limit)
    cmd = this_command()
    return '\n'.join([
        "# Training throughput: wise_learner against vision_learner and the model's own step", "",
        f"Command: `{cmd}`. Machine: {platform.machine()}, {os.cpu_count()} CPUs shared with other jobs (load average "
        f"{info['load']:.1f} at the end{'; ' + a.note if a.note else ''}), so the figures vary from repeat to repeat; "
        f"torch {torch.__version__}, one torch thread, {info['workers']} "
        f"DataLoader workers{' (fastai' + chr(39) + 's default)' if a.workers is None else ''}. {info['n_images']} "
        f"Fashion-MNIST PNGs in class folders, {a.arch} at {a.size} px, batches of 64, one training epoch "
        f"({info['n_train']} images, validation not timed) of `learn.fit(1, 1e-4)` with each learner's default "
        f"optimiser (`vision_learner`: fastai's `Adam`; `wise_learner`: `FusedAdam`, the same update in PyTorch's fused "
        f"kernel), and `wise_learner` again with `opt_func=Adam`; the model's own step is the same model, loss and "
        f"optimiser (`learn.create_opt()`: over the learner's parameter groups, its weight decay) on one in-memory "
        f"batch, as many steps as the epoch, no callbacks. Each row measured in turn, {a.repeats} times.", "",
        "| pipeline | images/s (median) | each repeat |", "|---|---:|---|", rate_rows(res), "",
        f"**wise_learner / vision_learner: {m['vl']:.2f}× ({rng('vl')}; goal ≥ 1.1: {'met' if m['vl'] >= 1.1 else 'not met'}); "
        f"wise_learner / the model's own step (its faster memory format): {m['own']:.2f} ({rng('own')}; goal ≥ 0.95: "
        f"{'met' if m['own'] >= 0.95 else 'not met'}).** Ratios are medians of the ratios measured within each repeat. "
        f"Where the difference with `vision_learner` comes from: `wise_learner` with fastai's Adam / `vision_learner` "
        f"{m['adam_vl']:.2f}× ({rng('adam_vl')}: the memory format, channels-last batches); `FusedAdam` / fastai's "
        f"Adam {m['wise_fused']:.2f}× end to end ({rng('wise_fused')}) and {m['own_fused']:.2f}× in the model's own "
        f"step ({rng('own_fused')}). One optimiser step alone over {a.arch}'s {info['n_tensors']} tensors "
        f"({info['n_params'] / 1e6:.1f} M parameters, random gradients, median of {a.repeats} × 20 steps): fastai's "
        f"Adam {info['opt_ms']['Adam']:.1f} ms, FusedAdam {info['opt_ms']['FusedAdam']:.1f} ms.", "",
        "Where one epoch's time goes (medians over the repeats; the learner's step includes every callback):", "",
        "| part of the epoch | wise_learner | vision_learner |", "|---|---:|---:|",
        part_row('waiting for the first batch (workers started, first batch made)', 'first'),
        part_row('between steps (the next batch, its batch transforms, callbacks after a batch)', 'gaps'),
        part_row('steps (forward, loss, backward, optimiser step, callbacks)', 'steps'),
        part_row('end (the DataLoader stopped)', 'end'),
        part_row('one step (median)', 'step', ms=True),
        f"| the model's own step, for comparison | {own_ms:.0f} ms | |", ""])

# ------------------------------------------------------------------------------------------------------------ precision
def precision(a):
    "Images/s of both learners in fp32 and with `to_bf16()`, interleaved; then fp32 against bfloat16 accuracy, paired"
    from fastai.metrics import accuracy
    from wisefast.learner import wise_learner, cpu_bf16
    if not cpu_bf16(): raise SystemExit("This CPU has no bfloat16 instructions (AVX512-BF16 or AMX): to_bf16() trains in fp32 here.")
    torch.set_num_threads(1)
    learners = {}
    with tempfile.TemporaryDirectory() as d:
        n_images = png_folder(d, a.n_images)
        for prec in ('fp32', 'bf16'):
            wl, vl = throughput_learners(d, a)
            if prec == 'bf16': wl.to_bf16(); vl.to_bf16()
            learners[f'{WISE}, {prec}'], learners[f'{FASTAI}, {prec}'] = wl, vl
        for l in learners.values(): fit_rate(l)                       # warm-up: workers, allocator, caches
        speed = {k: [] for k in learners}
        for r in range(a.repeats):
            for k, l in learners.items(): speed[k].append(fit_rate(l)[0])
            print(f"repeat {r + 1}: " + ', '.join(f"{k} {v[-1]:.0f}" for k, v in speed.items()) + " images/s", flush=True)
    xs, ys, names, test, where = fashion_mnist(a.n_test)
    rows = []
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        tr = split_indices(ys, a.n_train, 0, seed)[0]
        dls = make_dls(list(zip(xs[tr], names[ys[tr]])), test[:a.n_valid], size=a.size)
        for prec in ('fp32', 'bf16'):
            reseed(dls, seed)
            t = time.perf_counter()
            with quiet():
                learn = wise_learner(dls, a.arch, pretrained=False, metrics=accuracy)
                if prec == 'bf16': learn.to_bf16()
                learn.fit_one_cycle(a.long)
                acc = float(learn.validate(dl=learn.dls.test_dl(test, with_labels=True))[1])
            rows.append(dict(seed=seed, precision=prec, accuracy=acc, seconds=time.perf_counter() - t))
            print(f"seed {seed} {prec}: {acc:.4f}, {rows[-1]['seconds']:.0f} s", flush=True)
    return speed, pd.DataFrame(rows), dict(n_images=n_images, where=where, n_test=len(test), load=os.getloadavg()[0])

def precision_markdown(speed, df, info, a) -> str:
    ratio = lambda k, base: [x / b for x, b in zip(speed[k], speed[base])]
    cell = lambda rs: f"{statistics.median(rs):.2f}× (repeats {min(rs):.2f}–{max(rs):.2f})"
    acc = df.pivot(index='seed', columns='precision', values='accuracy')
    d, secs = 100 * (acc.bf16 - acc.fp32), df.groupby('precision').seconds.median()
    m, se = mean_se(d)
    cmd = this_command()
    return '\n'.join([
        "# Mixed precision on a CPU: `to_bf16()`", "",
        f"Command: `{cmd}`. Machine: {platform.machine()}, {os.cpu_count()} CPUs with bfloat16 instructions, shared with "
        f"other jobs (load average {info['load']:.1f} at the end{'; ' + a.note if a.note else ''}); torch "
        f"{torch.__version__}, one torch thread. fastai's `MixedPrecision` autocasts on CUDA only, so `vision_learner`'s "
        f"`to_bf16()` trains in fp32 on a CPU (with torch's warning that it disabled autocast); `wise_learner`'s autocasts "
        f"on the CPU. Weights, optimiser state and the loss stay fp32; convolutions and matrix products run in bfloat16.", "",
        "## Speed", "",
        f"One training epoch of `learn.fit(1, 1e-4)` (each learner's default optimiser), {info['n_images']} Fashion-MNIST PNGs in class "
        f"folders, {a.arch} at {a.size} px, batches of 64, data loading included; each row measured in turn, "
        f"{a.repeats} times.", "",
        "| learner | images/s (median) | each repeat |", "|---|---:|---|", rate_rows(speed), "",
        f"**wise_learner with `to_bf16()` / in fp32: {cell(ratio(f'{WISE}, bf16', f'{WISE}, fp32'))}; against "
        f"vision_learner with `to_bf16()`: {cell(ratio(f'{WISE}, bf16', f'{FASTAI}, bf16'))}**; vision_learner's "
        f"`to_bf16()` / its fp32: {cell(ratio(f'{FASTAI}, bf16', f'{FASTAI}, fp32'))}. Ratios are medians of the ratios "
        f"within each repeat.", "",
        "## Accuracy", "",
        f"`wise_learner(dls, '{a.arch}', pretrained=False)` (its defaults: the Wise-SrNet head), "
        f"`fit_one_cycle({a.long})` from scratch on {a.n_train} Fashion-MNIST images per class ({info['where']}) at "
        f"{a.size} px, no augmentation, in fp32 and with `to_bf16()`: same seed, same batches; test top-1 on "
        f"{info['n_test']} test images.", "",
        "| precision | test top-1 (mean ± sd, each seed) | seconds per run (median) |", "|---|---|---:|",
        *[f"| {p} | {mean_sd(acc[p])} | {secs[p]:.0f} |" for p in ('fp32', 'bf16')], "",
        f"**bfloat16 − fp32, paired: {m:+.2f}{f' ± {se:.2f}' if len(d) > 1 else ''} points** ({', '.join(f'{v:+.2f}' for v in d)}; "
        f"{len(d)} seed(s)).", ""])

# ----------------------------------------------------------------------------------------------------------------- main
def _write(path, text):
    from wisefast.files import write_atomic
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--part', choices=('workflows', 'throughput', 'both', 'precision'), default='both')
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
    p.add_argument('--n-images', type=int, default=3200)
    p.add_argument('--tp-arch', default='resnet10t')
    p.add_argument('--workers', type=int, help="throughput: DataLoader workers of both learners (default: fastai's, the CPU count)")
    p.add_argument('--profile', action='store_true', help="throughput: also print a cProfile of one wise_learner epoch")
    p.add_argument('--out', default=str(OUT))
    p.add_argument('--smoke', action='store_true', help="every code path on tiny budgets; writes nothing")
    p.add_argument('--note', help="a sentence for the Markdown: with --report, e.g. which rows of which CSV were replaced; "
                   "with --part throughput, what else ran on the machine")
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
    from wisefast.learner import cpu_bf16
    if a.part == 'precision' or (a.smoke and a.part == 'both' and cpu_bf16()):   # --smoke: with the rest, where it can run
        arch, a.arch = a.arch, a.tp_arch
        md = precision_markdown(*precision(a), a)
        a.arch = arch
        print(md)
        if not a.smoke: _write(out/'fastai_precision.md', md)

if __name__ == '__main__': main()
