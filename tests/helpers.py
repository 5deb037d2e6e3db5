"Small real-image data for tests: the Fashion-MNIST sample shipped with wisefast, the same on every machine."
from pathlib import Path
import numpy as np
from PIL import Image
from wisefast.datasets import load_fashion_mnist, sample_path

def fashion_mnist(split='train'):
    "`(images uint8 (N,28,28), labels)` of the Fashion-MNIST sample's `split` (300 train / 100 test images per class)."
    return load_fashion_mnist(sample_path('fashion_mnist'))[split]

def real_images(n_per_class=40, seed=0):
    "`(images uint8 (N,H,W), labels, name)`: a stratified random slice of Fashion-MNIST's training set."
    X, y = fashion_mnist('train')
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n_per_class] for c in np.unique(y)])
    return X[idx], y[idx], 'fashion_mnist'

def image_folder(dest, n_per_class=40, seed=0):
    "Write a real-image class-folder tree (PNG) under `dest`; returns `(path, dataset name)`."
    X, y, name = real_images(n_per_class, seed)
    dest = Path(dest)
    for i, (x, c) in enumerate(zip(X, y)):
        (dest/str(c)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(x).save(dest/str(c)/f'{i}.png')
    return dest, name
