"Table 3 augmentation vs the authors' `ImageDataGenerator` (keras_preprocessing 1.1.2) on real images."
import os
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
import cv2, numpy as np, pytest, torch
from scipy.stats import ks_2samp
from sklearn.datasets import load_sample_images
from keras_preprocessing.image import ImageDataGenerator
from fastai.vision.all import (DataBlock, ImageBlock, CategoryBlock, PILImage, Resize, ResizeMethod, TensorImage,
                               IntToFloatTensor)
from helpers import fashion_mnist
from wisefast.augment import table3, table3_batch, KerasAffine, KerasColor, keras_color, AlbumentationsTransform
from wisefast.preprocess import Preprocess
from wisefast.test_utils import KerasChannelShift, KerasBrightness

TABLE3 = dict(rotation_range=360, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.2,
              channel_shift_range=50., horizontal_flip=True, vertical_flip=True, brightness_range=(0., 1.2),
              fill_mode='nearest')

def fmnist(n, size):
    "`n` Fashion-MNIST test images (every 97th, mixed classes), upscaled to `size`, stacked to RGB `uint8`."
    x = fashion_mnist('test')[0][::97][:n]
    return [np.stack([cv2.resize(o, (size, size), interpolation=cv2.INTER_LINEAR)]*3, -1) for o in x]

def photos(n, size):
    "`n` crops of scikit-learn's two sample photos, resized to `size`."
    imgs, rng = load_sample_images().images, np.random.default_rng(0)
    out = []
    for i in range(n):
        img = imgs[i % 2]
        r, c = rng.integers(0, img.shape[0] - 200), rng.integers(0, img.shape[1] - 200)
        out.append(cv2.resize(np.ascontiguousarray(img[r:r+200, c:c+200]), (size, size), interpolation=cv2.INTER_AREA))
    return out

IMAGES = dict(fmnist=fmnist(4, 40), photos=photos(4, 40))

GEOMETRY = ('theta', 'tx', 'ty', 'zx', 'zy', 'flip_horizontal', 'flip_vertical')

def cpu_with_keras_params(x, p):
    "Run `table3`'s steps on float `x` with a Keras parameter dict `p`."
    x = KerasAffine().apply(x, **{k: p[k] for k in GEOMETRY})
    x = KerasChannelShift().apply(x, intensity=p['channel_shift_intensity'])
    return KerasBrightness().apply(x, factor=p['brightness'])

@pytest.mark.parametrize('name', list(IMAGES))
def test_same_params_same_output(name):
    "Given Keras' own random parameters, every step (and the whole chain) reproduces Keras' output."
    np.random.seed(1)
    idg = ImageDataGenerator(**TABLE3)
    for img in IMAGES[name]:
        x = img.astype(np.float32)
        for _ in range(10):
            p = idg.get_random_transform(x.shape)
            geo = {k: p[k] for k in GEOMETRY}
            np.testing.assert_allclose(KerasAffine().apply(x, **geo), ImageDataGenerator().apply_transform(x, geo), atol=0.02)
            ours, keras = cpu_with_keras_params(x, p), idg.apply_transform(x, p)
            # the brightness step truncates to integers; float rounding can move a value across an integer
            assert np.abs(ours - keras).max() <= 1 and (ours != keras).mean() < 0.01

@pytest.mark.parametrize('name', list(IMAGES))
def test_table3_steps_match_keras(name):
    "`table3`'s own steps (`KerasAffine`, then the one-pass `keras_color`) give Keras' output for Keras' parameters."
    np.random.seed(2)
    idg, aug = ImageDataGenerator(**TABLE3), table3(**TABLE3)
    assert [type(t) for t in aug.transforms] == [KerasAffine, KerasColor]
    n_diff = n_px = 0
    for img in IMAGES[name]:
        x = img.astype(np.float32)
        for _ in range(10):
            p = idg.get_random_transform(x.shape)
            ours = keras_color(KerasAffine().apply(img, **{k: p[k] for k in GEOMETRY}), p['channel_shift_intensity'],
                               p['brightness'])
            d = np.abs(ours.astype(int) - idg.apply_transform(x, p))
            assert d.max() <= 2                   # one level before a brightness factor up to 1.2
            n_diff, n_px = n_diff + (d > 0).sum(), n_px + d.size
    assert n_diff/n_px < 0.01

@pytest.mark.parametrize('fill_mode', ['constant', 'reflect'])
def test_other_fill_modes(fill_mode):
    "'reflect' matches Keras; 'constant' differs only on the outline (scipy does not blend the edge with `cval`)."
    x, kw = IMAGES['photos'][0].astype(np.float32), dict(theta=40., tx=6., ty=-5., zx=1.2, zy=1.15)
    d = np.abs(KerasAffine(fill_mode=fill_mode).apply(x, **kw) - ImageDataGenerator(fill_mode=fill_mode).apply_transform(x, kw))
    assert (d > 0.02).mean() < (0.06 if fill_mode == 'constant' else 1e-9)

def test_deterministic_cases():
    x = IMAGES['photos'][1].astype(np.float32)*0.4 + 50                  # a low-contrast real image
    assert KerasBrightness().apply(x, factor=0.).max() == 0                 # factor 0 gives black
    out = table3(brightness_range=(0., 0.))(image=IMAGES['fmnist'][0])['image']
    assert out.max() == 0
    for v in (-50., 50.):                                                    # clipped to the image's own range
        s = KerasChannelShift().apply(x, intensity=v)
        assert s.min() >= x.min() and s.max() <= x.max() and (s != x).any()
    img = IMAGES['fmnist'][1]
    assert (table3(0, 0, 0, 0, 0, False, False, None)(image=img)['image'] == img).all()
    assert (KerasAffine(0, 0, 0, 0).apply(img.astype(np.float32)) == img).all()

def test_zoom_direction():
    "z > 1 zooms out (content shrinks), z < 1 zooms in, exactly as Keras."
    g = IMAGES['fmnist'][2].astype(np.float32)
    for z in (0.8, 1.2):
        ours = KerasAffine().apply(g, zx=z, zy=z)
        keras = ImageDataGenerator().apply_transform(g, dict(zx=z, zy=z))
        np.testing.assert_allclose(ours, keras, atol=0.02)
        assert ((ours > 10).mean() < (g > 10).mean()) == (z > 1)

def stats(o):
    "Per-image mean, standard deviation and near-black indicator."
    o = np.asarray(o, np.float32)
    return dict(mean=o.mean((1, 2, 3)), std=o.std((1, 2, 3)), black=(o.max((1, 2, 3)) < 25).astype(float))

def keras_samples(imgs, n):
    np.random.seed(0)
    idg = ImageDataGenerator(**TABLE3)
    return np.stack([idg.random_transform(imgs[i % len(imgs)].astype(np.float32)) for i in range(n)])

def cpu_samples(imgs, n):
    aug = table3(**TABLE3, seed=0)
    return np.stack([aug(image=imgs[i % len(imgs)])['image'] for i in range(n)])

def gpu_samples(imgs, n, bs=100):
    torch.manual_seed(0)
    tfms, out = table3_batch(**TABLE3), []
    for i in range(0, n, bs):
        xb = TensorImage(torch.stack([torch.from_numpy(imgs[j % len(imgs)]).permute(2, 0, 1) for j in range(i, i + bs)]).float()/255)
        for t in tfms: xb = t(xb, split_idx=0)
        out.append((xb*255).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)

def assert_same_distribution(a, b, alpha=1e-3):
    sa, sb = stats(a), stats(b)
    for k in ('mean', 'std'):
        assert ks_2samp(sa[k], sb[k]).pvalue > alpha, k
    n = len(sa['black'])                                                     # fraction of near-black outputs
    assert abs(sa['black'].mean() - sb['black'].mean()) < 4*np.sqrt(2*sb['black'].mean()*(1 - sb['black'].mean())/n) + 0.01

@pytest.mark.parametrize('name', list(IMAGES))
def test_distribution_matches_keras(name):
    n, imgs = 400, IMAGES[name]
    assert_same_distribution(cpu_samples(imgs, n), keras_samples(imgs, n))

@pytest.mark.parametrize('name', list(IMAGES))
def test_batch_matches_cpu_distribution(name):
    n, imgs = 400, IMAGES[name]
    assert_same_distribution(gpu_samples(imgs, n), cpu_samples(imgs, n))

def test_dataloader_workers_differ():
    "Each worker and each epoch draws its own augmentations (albumentations' RNG is re-seeded per worker)."
    img = IMAGES['photos'][0]
    dblock = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=lambda _: list(range(8)),
                       get_x=lambda i: PILImage.create(img), get_y=lambda i: 'a',
                       item_tfms=[Resize(40, method=ResizeMethod.Squish), AlbumentationsTransform(table3())],
                       splitter=lambda items: (list(range(8)), []))
    dl = dblock.dataloaders(None, bs=2, num_workers=2).train
    epochs = [torch.cat([xb for xb, _ in dl]) for _ in range(2)]
    flat = torch.cat(epochs).flatten(1)
    assert len({tuple(o[:50].tolist()) for o in flat}) == len(flat)           # 16 different augmentations

def test_preprocess_decodes_in_show_batch_path():
    "Validation items are not augmented, and decoding the preprocessed batch gives back the images."
    imgs = IMAGES['photos']
    dblock = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=lambda _: list(range(4)),
                       get_x=lambda i: PILImage.create(imgs[i]), get_y=lambda i: str(i % 2),
                       item_tfms=[Resize(40, method=ResizeMethod.Squish), AlbumentationsTransform(table3())],
                       batch_tfms=[*table3_batch(), Preprocess('caffe')], splitter=lambda items: ([0, 1], [2, 3]))
    dls = dblock.dataloaders(None, bs=2, num_workers=0)
    xb, yb = dls.valid.one_batch()
    assert xb.min() < -90 and xb.max() > 100                                  # caffe scale: 0..255 minus means
    dec = dls.valid.decode_batch((xb, yb))
    for (img, _), ref in zip(dec, imgs[2:]):
        assert (img.permute(1, 2, 0).numpy().astype(int) - ref).__abs__().max() <= 1
