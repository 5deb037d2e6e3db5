"""Images/second of the paper's Table 3 augmentation at 224 px from JPEG files.

Side by side in one run: the authors' `ImageDataGenerator` (keras_preprocessing 1.1.2), wisefast's `table3`
(albumentations, CPU), a resize-only pipeline, and `table3_batch` (fastai batch transforms, here on the CPU).
Every pipeline decodes the JPEG and stretches it to 224x224 with nearest-neighbour resampling (as the reference).

    python benchmarks/augment_throughput.py [--n 200] [--reps 2] [--out benchmarks/results/augment_throughput.md]
"""
import argparse, gzip, os, platform, sys, tempfile, time, warnings
from pathlib import Path
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
warnings.filterwarnings('ignore')
import cv2, numpy as np, torch
from PIL import Image
from sklearn.datasets import load_sample_images
from keras_preprocessing.image import ImageDataGenerator, load_img, img_to_array
from fasttransform import Transform
from fastai.vision.all import (DataBlock, ImageBlock, CategoryBlock, PILImage, Resize, ResizeMethod, get_image_files,
                               parent_label, RandomSplitter, TensorImage)
from wisefast.augment import table3, table3_batch, AlbumentationsTransform

SIZE = 224
TABLE3 = dict(rotation_range=360, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.2,
              channel_shift_range=50., horizontal_flip=True, vertical_flip=True, brightness_range=(0., 1.2),
              fill_mode='nearest')
FMNIST = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz'

def write_jpegs(dest, n):
    "Half random 300x400 crops of scikit-learn's sample photos, half Fashion-MNIST upscaled to 150 px RGB (like Intel)."
    rng, photos = np.random.default_rng(0), load_sample_images().images
    with gzip.open(FMNIST) as f: fm = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    for i in range(n):
        if i % 2:
            img = photos[i % 4 // 2]
            r, c = rng.integers(0, img.shape[0] - 300), rng.integers(0, img.shape[1] - 400)
            arr, cls = img[r:r+300, c:c+400], 'photo'
        else: arr, cls = np.stack([cv2.resize(fm[i], (150, 150), interpolation=cv2.INTER_LINEAR)]*3, -1), 'fmnist'
        (dest/cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(arr)).save(dest/cls/f'{i:04d}.jpg', quality=90)
    return sorted(dest.rglob('*.jpg'))

def load_resized(f): return np.asarray(Image.open(f).convert('RGB').resize((SIZE, SIZE), Image.NEAREST))

def per_core(files, reps):
    "Single process, single thread: best images/s over `reps` interleaved passes (so load changes hit all alike)."
    idg, aug, tb = ImageDataGenerator(**TABLE3), table3(**TABLE3), table3_batch(**TABLE3)
    arrays = [load_resized(f) for f in files]                   # for the augmentation alone, on decoded 224 px images
    def batch(fs):
        xb = TensorImage(torch.from_numpy(np.stack([load_resized(f) for f in fs])).permute(0, 3, 1, 2).float()/255)
        for t in tb: xb = t(xb, split_idx=0)
    runs = dict(  # each runs the pipeline over all the images
        keras=lambda: [idg.random_transform(img_to_array(load_img(f, target_size=(SIZE, SIZE), interpolation='nearest')))
                       for f in files],
        table3=lambda: [aug(image=load_resized(f))['image'] for f in files],
        resize=lambda: [load_resized(f) for f in files],
        table3_batch=lambda: [batch(files[i:i+32]) for i in range(0, len(files), 32)],
        keras_aug=lambda: [idg.random_transform(x.astype(np.float32)) for x in arrays],
        table3_aug=lambda: [aug(image=x)['image'] for x in arrays])
    best = {k: 0. for k in runs}
    for _ in range(reps):
        for k, run in runs.items():
            t = time.perf_counter(); run()
            best[k] = max(best[k], len(files)/(time.perf_counter() - t))
    return best

class KerasItem(Transform):
    "The authors' `random_transform` as a fastai item transform (train only), for the DataLoader comparison."
    split_idx,order = 0,2
    def __init__(self): self.idg = ImageDataGenerator(**TABLE3)
    def encodes(self, x:PILImage):
        return PILImage.create(np.clip(self.idg.random_transform(np.asarray(x, np.float32)), 0, 255).astype(np.uint8))

def dataloader_rate(path, item_tfms, batch_tfms=None, epochs=2, workers=2, bs=32):
    "Steady-state images/s through a fastai DataLoader: persistent `workers`, one untimed warm-up epoch."
    resize = Resize(SIZE, method=ResizeMethod.Squish, resamples=(Image.NEAREST, Image.NEAREST))
    dblock = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, get_y=parent_label,
                       splitter=RandomSplitter(0., seed=0), item_tfms=[resize, *item_tfms], batch_tfms=batch_tfms)
    dl = dblock.dataloaders(path, bs=bs, num_workers=workers, drop_last=False, persistent_workers=workers > 0).train
    for _ in dl: pass
    n, t = 0, time.perf_counter()
    for _ in range(epochs):
        for xb, _ in dl: n += len(xb)
    return n/(time.perf_counter() - t)

def keras_flow_rate(path, epochs=1, bs=32):
    "The reference's own iterator: `flow_from_directory` (one process), decode + resize + augment."
    it = ImageDataGenerator(**TABLE3).flow_from_directory(path, target_size=(SIZE, SIZE), batch_size=bs,
                                                          interpolation='nearest', class_mode='categorical')
    n, t = 0, time.perf_counter()
    for _ in range(epochs*len(it)): n += len(next(it)[0])
    return n/(time.perf_counter() - t)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=200, help='number of JPEG files')
    p.add_argument('--reps', type=int, default=2, help='passes per single-process measurement (best is kept)')
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--out', help='write the markdown results here')
    a = p.parse_args()
    cv2.setNumThreads(1); torch.set_num_threads(1)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d)
        files = write_jpegs(path, a.n)
        pc = per_core(files, a.reps)
        dl = dict(keras=dataloader_rate(path, [KerasItem()], workers=a.workers),
                  table3=dataloader_rate(path, [AlbumentationsTransform(table3(**TABLE3))], workers=a.workers),
                  resize=dataloader_rate(path, [], workers=a.workers),
                  table3_batch=dataloader_rate(path, [], table3_batch(**TABLE3), workers=a.workers))
        flow = keras_flow_rate(path)
    names = dict(keras='Keras `ImageDataGenerator` (keras_preprocessing 1.1.2)', table3='wisefast `table3` (albumentations)',
                 resize='resize only (no augmentation)', table3_batch='wisefast `table3_batch` (fastai batch tfms, on CPU)')
    lines = [f'Command: `{" ".join(["python", *sys.argv])}`', '',
             f'{a.n} JPEGs (half 300x400 photo crops, half 150x150 Fashion-MNIST), decoded and stretched to {SIZE}x{SIZE} '
             f'(nearest), Table 3 arguments. Machine: {os.cpu_count()} CPU cores shared with other jobs '
             f'(load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end), {platform.processor() or platform.machine()}, '
             f'torch {torch.__version__}, OpenCV {cv2.__version__}. Per core: one process, one thread (OpenCV and torch), best of '
             f'{a.reps} interleaved passes. DataLoader: fastai, `num_workers={a.workers}` (persistent), bs 32, 2 timed epochs after a warm-up epoch; '
             f'`table3_batch` runs in the main process after collation, on the CPU with one torch thread.', '',
             '| pipeline | per core (img/s) | DataLoader, 2 workers (img/s) |', '|---|---:|---:|']
    for k in names: lines.append(f'| {names[k]} | {pc[k]:.0f} | {dl[k]:.0f} |')
    lines.append(f'| Keras `flow_from_directory` (the reference iterator, 1 process) | {flow:.0f} | |')
    lines += ['', '| ratio | per core | DataLoader | goal |', '|---|---:|---:|---|',
              f'| `table3` / Keras | {pc["table3"]/pc["keras"]:.1f}x | {dl["table3"]/dl["keras"]:.1f}x | >= 5x |',
              f'| `table3` / resize only | {pc["table3"]/pc["resize"]:.2f}x | {dl["table3"]/dl["resize"]:.2f}x | >= 0.5x |',
              f'| `table3_batch` (CPU) / Keras | {pc["table3_batch"]/pc["keras"]:.1f}x | {dl["table3_batch"]/dl["keras"]:.1f}x | |',
              f'| `table3_batch` (CPU) / resize only | {pc["table3_batch"]/pc["resize"]:.2f}x | {dl["table3_batch"]/dl["resize"]:.2f}x | |']
    lines += ['', f'Augmentation alone (decoded 224 px arrays, per core): Keras {1e3/pc["keras_aug"]:.1f} ms/img, '
              f'`table3` {1e3/pc["table3_aug"]:.2f} ms/img ({pc["table3_aug"]/pc["keras_aug"]:.1f}x); '
              f'decode + resize {1e3/pc["resize"]:.2f} ms/img.', '',
              'Notes. The per-core column is the cost of the pipelines themselves. The DataLoader column adds fastai\'s '
              'own per-item work (`PILImage.create`, `Resize`, `ToTensor`, collation, the batch transforms in the main '
              'process), the same for every row, which compresses the ratios; with 2 workers on 2 busy cores the '
              'workers also compete with the main process. `table3_batch` is meant for a GPU: on the CPU its '
              '`grid_sample` warp of whole batches with one thread is slower than OpenCV per image. The machine was '
              'shared with other jobs (see the load averages), so absolute figures vary by about 30% between runs; the '
              'ratios within a column are more stable.']
    text = '\n'.join(lines) + '\n'
    print(text)
    if a.out: Path(a.out).write_text('# Table 3 augmentation throughput\n\n' + text)

if __name__ == '__main__': main()
