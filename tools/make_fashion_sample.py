#!/usr/bin/env python
"""Write the Fashion-MNIST sample that ships in `wisefast/samples/fashion_mnist/`.

    python tools/make_fashion_sample.py [--src FOLDER] [--train 300] [--test 100]

A stratified random subset (seed 0) of the full dataset (`--src`, default: where `fashion_mnist_path` finds it):
`--train` images of each class from its training split and `--test` of each class from its test split, kept in their
original order and written as the same four gzipped IDX files, so every loader of the full data reads it.
Fashion-MNIST is (c) Zalando SE, MIT licence.
"""
import argparse, gzip, struct
from pathlib import Path
import numpy as np
from wisefast.datasets import FASHION_MNIST_FILES, fashion_mnist_path, read_idx, sample_path

def write_idx(fn, a:np.ndarray):
    "A uint8 IDX file, gzipped with a fixed header time so that the bytes are reproducible"
    head = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f'>{a.ndim}I', *a.shape)
    with open(fn, 'wb') as f, gzip.GzipFile(fileobj=f, mode='wb', mtime=0, compresslevel=9) as g: g.write(head + a.tobytes())

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--src', help='folder of the full dataset (default: found by `fashion_mnist_path(sample=False)`)')
    p.add_argument('--train', type=int, default=300); p.add_argument('--test', type=int, default=100)
    p.add_argument('--out', default=str(sample_path('fashion_mnist')))
    a = p.parse_args(argv)
    src = Path(a.src) if a.src else fashion_mnist_path(sample=False)
    out, rng = Path(a.out), np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    for split, n in (('train', a.train), ('test', a.test)):
        x, y = (read_idx(src/f) for f in FASHION_MNIST_FILES[split])
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n] for c in range(10)]))
        for f, arr in zip(FASHION_MNIST_FILES[split], (x[keep], y[keep])): write_idx(out/f, arr)
        print(f'{split}: {len(keep)} images')

if __name__ == '__main__': main()
