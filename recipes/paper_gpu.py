#!/usr/bin/env python
"""Reproduce the paper's head comparisons end to end on a GPU: Tables 5 (Sub-ImageNet), 6 (Intel), 7 (MIT Indoor,
224 px, from scratch) and 9 (MIT Indoor, 512 px, ImageNet weights), with the paper's numbers beside each row.

    python recipes/paper_gpu.py                          # everything (weeks of GPU time: 51 trainings of 130-220 epochs)
    python recipes/paper_gpu.py --tables table9 --archs xception
    python recipes/paper_gpu.py --smoke                  # the same code path on tiny fake datasets, CPU, ~a minute

Per table and backbone it downloads the Kaggle dataset once (`download_dataset`, needs Kaggle credentials; or pass
`--data-root` with the extracted archives), trains every head of the table with `compare_heads` (paper recipe: SGD
momentum 0.9, lr 0.045 × 0.94 every 2 epochs evaluated per step with Keras momentum, the paper's batch size, image size
and epochs; validation on the test split as in the paper) and writes `OUT/<table>/<arch>/` (results, curves,
checkpoints). Interrupted runs resume: re-run the same command. `OUT/paper_comparison.md` collects every row next to the
paper's. Parameter counts differ from the paper's by the backbone (timm vs Keras); the *head* parameters match exactly.
"""
from __future__ import annotations
import argparse, shutil, sys, tempfile
from pathlib import Path
import pandas as pd

from wisefast.paper import PAPER_TABLES as PAPER   # paper rows: (head, total parameters, top-1, top-5 or None)

def paper_head_params(rows) -> dict:
    "Head parameters of each paper row: its total minus the Keras base (the GAP row's total minus C·K + K)."
    gap_total = next(total for h, total, *_ in rows if h == 'gap')
    return {h: total - gap_total for h, total, *_ in rows}    # relative to GAP: exact whatever the base

def comparison_rows(table:str, arch:str, df:pd.DataFrame) -> list:
    "Our results beside the paper's for one table and backbone."
    rows, ours = PAPER[table]['rows'][arch], df.set_index('variant')
    gap_head = ours.loc['gap', 'head_params'] if 'gap' in ours.index else None
    extra = paper_head_params(rows)
    res = []
    for h, total, top1, top5 in rows:
        r = ours.loc[h] if h in ours.index else None
        res.append(dict(table=table, backbone=arch, head=h,
                        head_params=None if r is None else int(r.head_params),
                        paper_head_params=None if gap_head is None else int(gap_head + extra[h]),
                        params=None if r is None else int(r.params), paper_params=total,
                        top1=None if r is None else float(r.top1), paper_top1=top1,
                        top5=None if r is None else float(r.top5), paper_top5=top5))
    return res

def fake_dataset(name:str, root:Path) -> Path:
    "A tiny zip with the real archive layout of Kaggle dataset `name`, downloaded (extracted, verified) like the real one."
    from wisefast.datasets import download_dataset
    from wisefast.test_utils import write_layout, zip_folder
    src = write_layout(name, root/f'{name}_src', n_train=6, n_test=3)
    zf = zip_folder(src, root/f'{name}.zip')
    return download_dataset(name, root/name, expected=dict(train=18, test=9), archive=zf)

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--tables', default=','.join(PAPER), help=f"comma-separated, from {', '.join(PAPER)}")
    p.add_argument('--archs', default=None, help="only these backbones (paper names, comma-separated, case-insensitive)")
    p.add_argument('--out', default='runs/paper', help="output folder (default: runs/paper)")
    p.add_argument('--data-root', default=None, help="folder holding <dataset>/ extracted archives (default: fastai's data folder)")
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--not-keras-exact', action='store_true', help="per-epoch staircase and PyTorch momentum instead")
    p.add_argument('--valid-split', action='store_true', help="validate on 10%% of the training set instead of the "
                                                             "test split (the paper validates on the test split)")
    p.add_argument('--workers', type=int, default=None, help="DataLoader workers (default: fastai's)")
    p.add_argument('--smoke', action='store_true', help="tiny fake datasets, 'test_resnet', 1 epoch: checks the code path")
    return p.parse_args(argv)

def main(argv=None) -> pd.DataFrame:
    a = parse_args(argv)
    from wisefast.datasets import download_dataset
    from wisefast.experiments import compare_heads, results_markdown
    from wisefast.paper import PAPER_HEADS
    from wisefast.files import write_atomic
    tables = [t.strip() for t in a.tables.split(',')]
    unknown = [t for t in tables if t not in PAPER]
    if unknown: sys.exit(f"unknown table(s) {unknown}: choose from {', '.join(PAPER)}")
    out = Path(a.out)
    tmp = Path(tempfile.mkdtemp(prefix='wisefast-smoke-')) if a.smoke else None
    roots, rows = {}, []
    try:
        for t in tables:
            spec = PAPER[t]
            name = spec['dataset']
            if name not in roots:
                if a.smoke: roots[name] = fake_dataset(name, tmp)
                else: roots[name] = download_dataset(name, Path(a.data_root)/name if a.data_root else None)
            for arch in spec['rows']:
                if a.archs and arch.lower() not in a.archs.lower().split(','): continue
                size, bs, epochs = (64 if spec['size'] > 224 else 32, 4, 1) if a.smoke else (spec['size'], spec['bs'], spec['epochs'])
                print(f"\n=== {t}: {arch} on {name}, {size} px, bs {bs}, {epochs} epochs ===", flush=True)
                df = compare_heads(name, 'test_resnet' if a.smoke else arch, heads=PAPER_HEADS[t], epochs=epochs,
                                   size=size, bs=bs, lr=0.045, seed=a.seed, out=out/t/arch.lower(),
                                   pretrained=spec['pretrained'] and not a.smoke, recipe=spec['recipe'],
                                   num_workers=0 if a.smoke else a.workers, keras_exact=not a.not_keras_exact,
                                   dls_kwargs=dict(path=roots[name], test_as_valid=not a.valid_split,
                                                   valid_pct=0.34 if a.smoke else 0.1),
                                   title=f'{t}: {arch} on {name}')
                rows += comparison_rows(t, arch, df)
                res = pd.DataFrame(rows)
                write_atomic(out/'paper_comparison.csv', res.to_csv(index=False))
                write_atomic(out/'paper_comparison.md', results_markdown(res))
                print(results_markdown(res[res.table.eq(t) & res.backbone.eq(arch)]), flush=True)
    finally:
        if tmp is not None: shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nAll rows beside the paper's: {out/'paper_comparison.md'}")
    return pd.DataFrame(rows)

if __name__ == '__main__': main()
