#!/usr/bin/env python
"""Paper §3.3: fine-tune ImageNet weights at 512 px with every layer trainable from the start.

Defaults (the paper, section 3): ResNet-50 with timm's ImageNet weights, batch 15, SGD momentum 0.9 without weight decay,
lr 0.045 ×0.94 every 2 epochs, 130 epochs; the head's pre-pool follows the 16×16 map (AvgPool 3, depthwise 5×5).
Offline, pass the weights file: --pretrained path/to/resnet50.safetensors. Every option of `wisefast train` works.

    python recipes/finetune_512.py --data mit_indoor --arch xception --head wise
    python recipes/finetune_512.py --data mit_indoor --arch resnet50v2 --pretrained weights/resnetv2_50.safetensors
"""
import sys
from wisefast.cli import recipe_main

if __name__ == '__main__': sys.exit(recipe_main('finetune_512', prog=sys.argv[0], description=__doc__.split('\n\n')[0]))
