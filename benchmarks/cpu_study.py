#!/usr/bin/env python
"""CPU-scale head study on real data: Fashion-MNIST, a small timm ResNet from scratch, Table 3 augmentation,
several heads × two resolutions × several seeds, with `wisefast.experiments.compare_heads`.

Every (seed, size) comparison is resumable (finished variants are skipped, an interrupted one resumes from its last
checkpoint), and the summary files are rewritten after every finished comparison, so a partial run still yields rows.

    HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 MPLBACKEND=Agg \\
      nohup python benchmarks/cpu_study.py > benchmarks/results/cpu_study.log 2>&1 &

Outputs: benchmarks/results/cpu_study.csv (one row per run), cpu_study.md (mean ± sd per size and head, with the
command), cpu_study_runs/s<seed>_<size>px/ (compare_heads output: tables, curves, histories).
"""
from __future__ import annotations
import argparse, os, shlex, sys, time
from pathlib import Path
import numpy as np, pandas as pd, torch

RESULTS = Path(__file__).resolve().parent/'results'

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='test_resnet', help="timm backbone, trained from scratch")
    p.add_argument('--output-stride', type=int, default=8, help="backbone output stride (8: 32 px → 4×4, 64 px → 8×8)")
    p.add_argument('--sizes', default='32,64', help="image sizes (Fashion-MNIST is 28×28; resized by stretching)")
    p.add_argument('--heads', default='gap,gap_dp,fastai,wise', help="heads run first, for every seed and size")
    p.add_argument('--extra-heads', default='dw_nonneg,avg_dw_nonneg', help="heads run afterwards, if time allows")
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--n-train', type=int, default=100, help="training images per class (stratified subset)")
    p.add_argument('--n-test', type=int, default=50, help="test images per class used for validation")
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--bs', type=int, default=32)
    p.add_argument('--lr', type=float, default=0.045, help="SGD momentum 0.9, × 0.94 every 2 epochs (the paper's)")
    p.add_argument('--preprocess', default='torch', help="wise_dls preprocessing mode")
    p.add_argument('--threads', type=int, default=1, help="torch threads (1 is fastest on a shared 2-core machine)")
    p.add_argument('--num-workers', type=int, default=1, help="DataLoader workers")
    p.add_argument('--out', default=str(RESULTS/'cpu_study_runs'))
    p.add_argument('--summary', default=str(RESULTS/'cpu_study'), help="prefix of the .csv and .md summaries")
    p.add_argument('--figure-only', action='store_true', help="only draw the Grad-CAM figure from finished runs")
    return p.parse_args(argv)

def fmap_side(arch, size, output_stride) -> int:
    from wisefast.models import create_timm_body, feature_map_shape
    return feature_map_shape(create_timm_body(arch, output_stride=output_stride), size)[1]

def collect(out:Path) -> pd.DataFrame:
    "One row per finished run found under `out`."
    import json
    rows = []
    for f in sorted(out.glob('s*_*px/*/result.json')):
        r = json.loads(f.read_text())
        seed, size = f.parent.parent.name.split('_')
        rows.append(dict(seed=int(seed[1:]), size=int(size[:-2]), **{k: v for k, v in r.items() if k != 'config'}))
    return pd.DataFrame(rows)

def _ms(x, pct=True):
    x = np.asarray(x, float)
    if pct: x = 100*x
    return f"{x.mean():.1f} ± {x.std(ddof=1):.1f}" if len(x) > 1 else f"{x.mean():.1f}"

def summarise(df:pd.DataFrame, a, fmaps:dict, cmd:str, elapsed:float) -> str:
    "Markdown report: mean ± sd per size and head."
    order = {h: i for i, h in enumerate(a.heads.split(',') + a.extra_heads.split(','))}
    lines = [
        "# CPU-scale head study: Fashion-MNIST, small ResNet from scratch", "",
        f"Backbone `{a.arch}` (timm, random init, `output_stride={a.output_stride}`), Table 3 augmentation "
        f"(`wise_dls(augment=True)`, albumentations), preprocessing `{a.preprocess}`, {a.n_train} training images per "
        f"class (a stratified subset drawn per seed), validation on {a.n_test} test images per class (also per seed), "
        f"{a.epochs} epochs, batch size {a.bs}, SGD momentum 0.9, lr {a.lr} × 0.94 every 2 epochs, no weight decay "
        f"(`compare_heads` → `fit_staircase`). The seed sets the data subset, the initialisation (the same for every "
        f"head of a comparison) and every epoch's data order and augmentation.", "",
        "Top-1/top-5 in % as mean ± sd over seeds, **at the last epoch** (the test images are the validation set, so "
        "picking the best epoch on them would be optimistic; best-epoch top-1 is given for comparison with the "
        "paper's tables). Parameters: whole model / head only. Time: mean seconds per epoch (training + validation) "
        "on a shared 2-core CPU, so only the ratios between heads mean something.", "",
        "| size | map | head | seeds | top-1 (last) | top-5 (last) | top-1 (best epoch) | params | head params | s/epoch |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    if len(df):
        for (size, variant), g in sorted(df.groupby(['size', 'variant']), key=lambda o: (o[0][0], order.get(o[0][1], 99))):
            m = fmaps.get(size, '?')
            lines.append(f"| {size} | {m}×{m} | {variant} | {len(g)} | {_ms(g.last_top1)} | {_ms(g.last_top5)} | "
                         f"{_ms(g.top1)} | {int(g.params.iloc[0]):,} | {int(g.head_params.iloc[0]):,} | "
                         f"{g.sec_per_epoch.mean():.0f} |")
    lines += ["", f"Runs finished: {len(df)}; wall-clock so far this invocation: {elapsed/60:.1f} min.", "",
              "Reproduce (from the repository root; resumes and skips finished runs):", "", "```",
              cmd, "```", ""]
    return '\n'.join(lines)

def study_dls(a, size:int, seed:int):
    from wisefast.data import wise_dls
    return wise_dls('fashion_mnist', size=size, bs=a.bs, n_per_class=(a.n_train, a.n_test), test_as_valid=True,
                    seed=seed, num_workers=a.num_workers, preprocess=a.preprocess)

def gradcam_figure(a, out:Path, fname:Path, heads=('gap', 'wise')):
    "Figure 9 on Fashion-MNIST: Grad-CAM of the best GAP and Wise-SrNet checkpoints (first seed, largest size)."
    from wisefast.experiments import load_variant
    from wisefast.interpret import plot_gradcam
    seed, size = int(a.seeds.split(',')[0]), max(int(s) for s in a.sizes.split(','))
    run = out/f's{seed}_{size}px'
    if not all((run/h/'result.json').exists() for h in heads): return None
    dls = study_dls(a, size, seed)
    learns = [load_variant(run, dls, a.arch, h, output_stride=a.output_stride) for h in heads]
    by_class = {}
    for x, y in dls.test_items: by_class.setdefault(y, (x, y))
    items = list(by_class.values())[:6]
    plot_gradcam(learns, items, fname, names=['GAP' if h == 'gap' else 'Wise-SrNet' if h == 'wise' else h for h in heads],
                 labels=[y for _, y in items])
    return fname

def _findings(summary:Path) -> str:
    "The hand-written '## Findings' section of the existing report, kept when the tables are rewritten."
    f = summary.with_suffix('.md')
    text = f.read_text() if f.exists() else ''
    return text[text.index('## Findings'):] if '## Findings' in text else ''

def main(argv=None):
    a = parse_args(argv)
    os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
    torch.set_num_threads(a.threads)
    from wisefast.experiments import compare_heads
    from wisefast.callbacks import write_atomic
    out, summary = Path(a.out), Path(a.summary)
    if a.figure_only: return print(gradcam_figure(a, out, summary.with_name(summary.name + '_gradcam.png')))
    sizes, seeds = [int(s) for s in a.sizes.split(',')], [int(s) for s in a.seeds.split(',')]
    fmaps = {s: fmap_side(a.arch, s, a.output_stride) for s in sizes}
    cmd = 'HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 MPLBACKEND=Agg python benchmarks/cpu_study.py ' + \
          ' '.join(shlex.quote(o) for o in (sys.argv[1:] if argv is None else argv))
    t0 = time.time()
    groups = [a.heads] + ([f'{a.heads},{a.extra_heads}'] if a.extra_heads else [])   # finished heads are skipped
    for heads in groups:
        for seed in seeds:
            for size in sizes:
                dls = study_dls(a, size, seed)
                compare_heads(dls, a.arch, heads=heads, epochs=a.epochs, lr=a.lr, seed=seed,
                              out=out/f's{seed}_{size}px', output_stride=a.output_stride,
                              title=f'{a.arch}, Fashion-MNIST {size} px ({fmaps[size]}×{fmaps[size]} map), seed {seed}')
                df = collect(out)
                write_atomic(summary.with_suffix('.csv'), df.to_csv(index=False))
                write_atomic(summary.with_suffix('.md'), summarise(df, a, fmaps, cmd, time.time() - t0) + _findings(summary))
                print(f"[study] seed {seed}, {size} px, heads {heads}: done at {(time.time() - t0)/60:.1f} min", flush=True)
        gradcam_figure(a, out, summary.with_name(summary.name + '_gradcam.png'))

if __name__ == '__main__': main()
