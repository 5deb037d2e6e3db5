#!/usr/bin/env python
"""Paper §3.2: train a backbone with a Wise-SrNet (or other) head from scratch at 224 px.

Defaults (the paper, section 3): ResNet-50, batch 70, SGD momentum 0.9 without weight decay, lr 0.045 ×0.94 every 2 epochs,
148 epochs on imagenet70, 220 on intel, 200 on mit_indoor; top-1/top-5 accuracy, history.csv, a checkpoint per epoch
and the best one. Every option of `wisefast train` works here; a killed run continues with --resume.

    python recipes/train_scratch_224.py --data imagenet70 --arch resnet50 --head wise
    python recipes/train_scratch_224.py --data intel --arch densenet121 --head gap --out runs/intel-gap --resume
"""
import sys
from wisefast.cli import recipe_main

if __name__ == '__main__': sys.exit(recipe_main('scratch_224', prog=sys.argv[0], description=__doc__.split('\n\n')[0]))
