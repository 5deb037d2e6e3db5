#!/usr/bin/env python
"""Compare classifier heads on one dataset and backbone, everything else identical (the paper's Tables 5-9).

Same as `wisefast compare`; for example the paper's Table 6 rows for ResNet50 on Intel (Kaggle download first):

    python recipes/compare_heads.py intel --arch resnet50 --heads table6 --test-as-valid --out runs/intel-resnet50

or a quick CPU run on Fashion-MNIST:

    python recipes/compare_heads.py fashion_mnist --arch resnet10t --heads gap,fastai,wise --size 64 --bs 32 \\
        --epochs 3 --n-per-class 100,50 --test-as-valid --preprocess torch --threads 1 --out runs/fmnist-heads

Writes OUT/results.csv, OUT/results.md, OUT/curves.png and one folder per head; re-running resumes.
"""
import sys
from wisefast.cli import compare_main, run_command

if __name__ == '__main__': sys.exit(run_command(sys.argv[0], compare_main, sys.argv[1:]))
