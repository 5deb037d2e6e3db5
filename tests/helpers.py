"Small real-image data sets for tests: Fashion-MNIST when the Debian package is installed, else scikit-learn digits."
from pathlib import Path
import numpy as np
from PIL import Image
from wisefast.data import read_idx, DEBIAN_FASHION_MNIST as FASHION

def real_images(n_per_class=40, seed=0):
    "`(images uint8 (N,H,W), labels, name)`: a stratified slice of Fashion-MNIST's training set, or of sklearn digits."
    if (FASHION/'train-images-idx3-ubyte.gz').exists():
        X, y, name = read_idx(FASHION/'train-images-idx3-ubyte.gz'), read_idx(FASHION/'train-labels-idx1-ubyte.gz'), 'fashion_mnist'
    else:
        from sklearn.datasets import load_digits
        d = load_digits()
        X, y, name = (d.images * 255 / 16).astype(np.uint8), d.target, 'digits'
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n_per_class] for c in np.unique(y)])
    return X[idx], y[idx], name

def image_folder(dest, n_per_class=40, seed=0):
    "Write a real-image class-folder tree (PNG) under `dest`; returns `(path, dataset name)`."
    X, y, name = real_images(n_per_class, seed)
    dest = Path(dest)
    for i, (x, c) in enumerate(zip(X, y)):
        (dest/str(c)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(x).save(dest/str(c)/f'{i}.png')
    return dest, name
