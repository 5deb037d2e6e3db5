"""Images/second of the paper's Table 3 augmentation at 224 px from JPEG files.

Side by side in one run: the authors' `ImageDataGenerator` (keras_preprocessing 1.1.2), wisefast's `table3`
(albumentations, CPU), a resize-only pipeline, and `table3_batch` (fastai batch transforms, here on the CPU).
Every pipeline decodes the JPEG and stretches it to 224x224 with nearest-neighbour resampling (as the reference):
Keras with its own `load_img`, wisefast with `LoadStretched` (the same pixels). Through the DataLoader every row is
`wise_dblock`'s pipeline with only the augmentation swapped.

    python benchmarks/augment_throughput.py [--n 200] [--rounds 3] [--out benchmarks/results/augment_throughput.md]

The machine is shared and noisy, so every figure is measured in `--rounds` interleaved rounds (each round measures
every pipeline once); rates are medians over rounds and each ratio is the median of the per-round ratios.
"""
import argparse, os, platform, statistics, sys, tempfile, time, warnings
from pathlib import Path
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
warnings.filterwarnings('ignore')
import cv2, numpy as np, torch
from PIL import Image
from sklearn.datasets import load_sample_images
from keras_preprocessing.image import ImageDataGenerator, load_img, img_to_array
import albumentations as A
from fasttransform import Pipeline
from fastai.vision.all import IntToFloatTensor, RandomSplitter, TensorImage, get_image_files
from wisefast.augment import table3, table3_batch
from wisefast.preprocess import Preprocess
from wisefast.data import wise_dblock
from wisefast.datasets import load_fashion_mnist, sample_path
from wisefast.images import LoadStretched

SIZE = 224
TABLE3 = dict(rotation_range=360, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.2,
              channel_shift_range=50., horizontal_flip=True, vertical_flip=True, brightness_range=(0., 1.2),
              fill_mode='nearest')

def write_jpegs(dest, n):
    "Half random 300x400 crops of scikit-learn's sample photos, half Fashion-MNIST upscaled to 150 px RGB (like Intel)."
    rng, photos = np.random.default_rng(0), load_sample_images().images
    fm = load_fashion_mnist(sample_path('fashion_mnist'))['test'][0]      # the same images on every machine
    for i in range(n):
        if i % 2:
            img = photos[i % 4 // 2]
            r, c = rng.integers(0, img.shape[0] - 300), rng.integers(0, img.shape[1] - 400)
            arr, cls = img[r:r+300, c:c+400], 'photo'
        else: arr, cls = np.stack([cv2.resize(fm[i], (150, 150), interpolation=cv2.INTER_LINEAR)]*3, -1), 'fmnist'
        (dest/cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(arr)).save(dest/cls/f'{i:04d}.jpg', quality=90)
    return sorted(dest.rglob('*.jpg'))

_load = LoadStretched(SIZE)
def load_resized(f):
    "wisefast's loading: decode and stretch to `SIZE` (`LoadStretched`), as `H×W×3` pixels."
    return _load(f).permute(1, 2, 0).numpy()

def load_resized_pil(f):
    "Pillow's decode and stretch (the same pixels), as fastai's `PILImage.create` and squish `Resize` make them."
    return np.asarray(Image.open(f).convert('RGB').resize((SIZE, SIZE), Image.NEAREST))

FAST_REPS = 5

def per_core(files):
    "One process, one thread: images/s of each pipeline over all `files` (one round)."
    idg, aug = ImageDataGenerator(**TABLE3), table3(**TABLE3)
    tb = Pipeline([IntToFloatTensor(), *table3_batch(**TABLE3)], split_idx=0)   # as a training DataLoader runs them
    arrays = [load_resized(f) for f in files]                   # for the augmentation alone, on decoded 224 px images
    def batch(fs): return tb(TensorImage(torch.from_numpy(np.stack([load_resized(f) for f in fs])).permute(0, 3, 1, 2)))
    runs = dict(  # each runs the pipeline over all the images
        keras=lambda: [idg.random_transform(img_to_array(load_img(f, target_size=(SIZE, SIZE), interpolation='nearest')))
                       for f in files],
        table3=lambda: [aug(image=load_resized(f))['image'] for f in files],
        resize=lambda: [load_resized(f) for f in files],
        resize_pil=lambda: [load_resized_pil(f) for f in files],
        table3_batch=lambda: [batch(files[i:i+32]) for i in range(0, len(files), 32)],
        keras_aug=lambda: [idg.random_transform(x.astype(np.float32)) for x in arrays],
        table3_aug=lambda: [aug(image=x)['image'] for x in arrays])
    out = {}
    for k, run in runs.items():     # the fast pipelines run several passes, so that each figure is timed over ~1 s
        reps = 1 if k in ('keras', 'keras_aug', 'table3_batch') else FAST_REPS
        t = time.perf_counter()
        for _ in range(reps): run()
        out[k] = reps*len(files)/(time.perf_counter() - t)
    return out

class KerasAug(A.ImageOnlyTransform):
    "The authors' `random_transform` as an albumentations transform, to run in `wise_dblock`'s place of `table3`."
    def __init__(self): super().__init__(p=1.); self.idg = ImageDataGenerator(**TABLE3)
    def apply(self, img, **params):
        return np.clip(self.idg.random_transform(img.astype(np.float32)), 0, 255).astype(np.uint8)

def steady_rate(dl, skip=3):
    """(images/s, this process's CPU ms per image) over one pass of `dl`, timed from batch `skip` on (leaves out the
    workers' start-up); with workers, this process's CPU time is what receiving the batches costs."""
    n, skip = 0, min(skip, len(dl)//4)
    for i, (xb, _) in enumerate(dl):
        if i == skip: t, c = time.perf_counter(), time.process_time()
        if i >= skip: n += len(xb)
    return n/(time.perf_counter() - t), 1e3*(time.process_time() - c)/n

AUGMENT = dict(keras=KerasAug, table3=lambda: True, resize=lambda: False, table3_batch=lambda: 'gpu')

def dataloader_rate(path, name, repeat, cpu_batch_tfms=False, workers=2, bs=70):
    """`steady_rate` of `wise_dblock(augment=...)` through a fastai DataLoader with `workers`: one epoch of every file
    `repeat` times. Without `cpu_batch_tfms` the
    batch transforms (which run on the GPU when training) are left out, except `table3_batch`'s, which run here in the
    main process on the CPU; with it, `IntToFloatTensor` and the reference's 'caffe' `Preprocess` run in the main
    process for every row."""
    get_items = lambda p: get_image_files(p)*repeat
    dl = wise_dblock(SIZE, augment=AUGMENT[name](), preprocess=None, splitter=RandomSplitter(0., seed=0),
                     get_items=get_items).dataloaders(path, bs=bs, num_workers=workers, drop_last=True).train
    tfms = [IntToFloatTensor(), Preprocess('caffe')] if cpu_batch_tfms else []
    if name == 'table3_batch': tfms = [IntToFloatTensor(), *table3_batch(**TABLE3), *tfms[1:]]
    dl.after_batch = Pipeline(tfms)
    return steady_rate(dl)

def keras_flow(path, bs):
    "The reference's own iterator over the class folders in `path`: `flow_from_directory`, decode + resize + augment."
    return ImageDataGenerator(**TABLE3).flow_from_directory(path, target_size=(SIZE, SIZE), batch_size=bs,
                                                            interpolation='nearest', class_mode='categorical')

def keras_flow_rate(path, epochs=1, bs=70):
    "Images/s of `keras_flow` in one process."
    it, n, t = keras_flow(path, bs), 0, time.perf_counter()
    for _ in range(epochs*len(it)): n += len(next(it)[0])
    return n/(time.perf_counter() - t)

def keras_workers_rate(files, repeat, workers=2, bs=70):
    """The reference's own iterator (`flow_from_directory`, a Keras `Sequence` of batches) in a torch DataLoader's
    `workers`: Keras' pipeline parallelised without fastai. One epoch of every file `repeat` times (symlinks)."""
    with tempfile.TemporaryDirectory() as d:
        for f in files:
            (Path(d)/f.parent.name).mkdir(exist_ok=True)
            for k in range(repeat): os.symlink(f, Path(d)/f.parent.name/f'{k}_{f.name}')
        dl = torch.utils.data.DataLoader(keras_flow(d, bs), batch_size=None, shuffle=True, num_workers=workers)
        return steady_rate(dl)[0]

def med(xs): return statistics.median(xs)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=200, help='number of JPEG files')
    p.add_argument('--rounds', type=int, default=3, help='interleaved rounds; medians are reported')
    p.add_argument('--repeat', type=int, default=10, help='DataLoader epoch: every file this many times')
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--bs', type=int, default=70, help="batch size (70: `wise_dls`' and the paper's at 224 px)")
    p.add_argument('--out', help='write the markdown results here')
    a = p.parse_args()
    cv2.setNumThreads(1); torch.set_num_threads(1)
    load0, t0 = os.getloadavg()[0], time.time()
    pc, dl0, dl, dlc, main_cpu = [], [], [], [], []              # per round: {pipeline: images/s} (main_cpu: ms/img)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d)
        files = write_jpegs(path, a.n)
        for r in range(a.rounds):
            pc.append(per_core(files))
            dl0.append({k: dataloader_rate(path, k, a.repeat, workers=0, bs=a.bs)[0] for k in ('keras', 'table3', 'resize')})
            runs = {k: dataloader_rate(path, k, a.repeat, workers=a.workers, bs=a.bs) for k in AUGMENT}
            dl.append({k: r for k, (r, _) in runs.items()}); main_cpu.append({k: c for k, (_, c) in runs.items()})
            dlc.append({k: dataloader_rate(path, k, a.repeat, True, workers=a.workers, bs=a.bs)[0]
                        for k in ('keras', 'table3', 'resize')})
            print(f'round {r + 1}/{a.rounds}: per core {pc[-1]["table3"]:.0f} img/s, DataLoader {dl[-1]["table3"]:.0f} img/s '
                  f'(table3)', file=sys.stderr, flush=True)
        flow, flow_workers = keras_flow_rate(path, bs=a.bs), keras_workers_rate(files, a.repeat, a.workers, a.bs)
    rate = lambda rounds, k: med([o[k] for o in rounds])
    ratio = lambda rounds, k1, k2: med([o[k1]/o[k2] for o in rounds])
    names = dict(keras='Keras `ImageDataGenerator` (keras_preprocessing 1.1.2)', table3='wisefast `table3` (albumentations)',
                 resize='resize only (no augmentation)', table3_batch='wisefast `table3_batch` (fastai batch tfms, on CPU)',
                 resize_pil='resize only, decoded by Pillow (fastai\'s `PILImage`; per core only)')
    lines = [f'Command: `{" ".join(["python", *sys.argv])}`', '',
             f'{a.n} JPEGs (half 300x400 photo crops, half 150x150 Fashion-MNIST), decoded and stretched to {SIZE}x{SIZE} '
             f'(nearest), Table 3 arguments. Machine: {os.cpu_count()} CPU cores shared with other jobs '
             f'(load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end, {(time.time() - t0)/60:.0f} min), '
             f'{platform.processor() or platform.machine()}, torch {torch.__version__}, OpenCV {cv2.__version__}. '
             f'{a.rounds} interleaved rounds: rates are medians over rounds, ratios medians of the per-round ratios.', '',
             f'- **Per core**: one process, one thread (OpenCV and torch), each pipeline over all {a.n} files: Keras '
             f'`load_img` + `random_transform`; wisefast `LoadStretched` (+ `table3`); the pipelines faster than Keras run '
             f'{FAST_REPS} passes.',
             f'- **DataLoader, no workers**: the DataLoader below with `num_workers=0`, in this one process (what fastai '
             f'adds per item and per batch, without parallelism).',
             f'- **DataLoader**: `wise_dblock(augment=...)`, the same fastai pipeline for every row (`LoadStretched`, '
             f'the augmentation, channels-last collation by `WiseDL`), `num_workers={a.workers}`, bs {a.bs}; one epoch of '
             f'{a.n * a.repeat} items (every file {a.repeat} times), timed from the 4th batch. The Keras row runs the '
             f"authors' `random_transform` in `table3`'s place. What the workers deliver: the batch transforms, which "
             f'run on the GPU in training, are left out, except for `table3_batch`, whose augmentation runs here in '
             f'the main process on the CPU with one torch thread.',
             '- **+ CPU batch tfms**: the same, with `IntToFloatTensor` and the reference\'s `Preprocess(\'caffe\')` in '
             'the main process, on the CPU (CPU-only training).', '',
             f'| pipeline | per core (img/s) | DataLoader, no workers (img/s) | DataLoader, {a.workers} workers (img/s) '
             f'| + CPU batch tfms (img/s) |', '|---|---:|---:|---:|---:|']
    for k in names:
        c, d, d0 = (f'{rate(r, k):.0f}' if k in r[0] else '' for r in (dlc, dl, dl0))
        lines.append(f'| {names[k]} | {rate(pc, k):.0f} | {d0} | {d} | {c} |')
    lines.append(f'| Keras `flow_from_directory` (the reference iterator; per core: 1 process; DataLoader: a Keras '
                 f'`Sequence` in {a.workers} torch workers, once) | {flow:.0f} | | {flow_workers:.0f} | |')
    lines += ['', '| ratio | per core | DataLoader, no workers | DataLoader | + CPU batch tfms | goal |',
              '|---|---:|---:|---:|---:|---|',
              f'| `table3` / Keras | {ratio(pc, "table3", "keras"):.1f}x | {ratio(dl0, "table3", "keras"):.1f}x | '
              f'{ratio(dl, "table3", "keras"):.1f}x | {ratio(dlc, "table3", "keras"):.1f}x | >= 5x |',
              f'| `table3` / resize only | {ratio(pc, "table3", "resize"):.2f}x | {ratio(dl0, "table3", "resize"):.2f}x | '
              f'{ratio(dl, "table3", "resize"):.2f}x | {ratio(dlc, "table3", "resize"):.2f}x | >= 0.5x |',
              f'| `table3_batch` (CPU) / Keras | {ratio(pc, "table3_batch", "keras"):.1f}x | | '
              f'{ratio(dl, "table3_batch", "keras"):.1f}x | | |',
              f'| `table3_batch` (CPU) / resize only | {ratio(pc, "table3_batch", "resize"):.2f}x | | '
              f'{ratio(dl, "table3_batch", "resize"):.2f}x | | |']
    per_round = lambda rounds, k1, k2: ', '.join(f'{o[k1]/o[k2]:.2f}' for o in rounds)
    lines += ['', f'Per-round ratios, `table3` / Keras: per core {per_round(pc, "table3", "keras")}; DataLoader '
              f'{per_round(dl, "table3", "keras")}. `table3` / resize only: per core {per_round(pc, "table3", "resize")}; '
              f'DataLoader {per_round(dl, "table3", "resize")}.', '',
              f'Augmentation alone (decoded 224 px arrays, per core): Keras {1e3/rate(pc, "keras_aug"):.1f} ms/img, '
              f'`table3` {1e3/rate(pc, "table3_aug"):.2f} ms/img ({ratio(pc, "table3_aug", "keras_aug"):.1f}x); '
              f'decode + resize {1e3/rate(pc, "resize"):.2f} ms/img (Pillow: {1e3/rate(pc, "resize_pil"):.2f} ms/img).']
    ks = ('keras', 'table3', 'resize')
    ms = {k: 1e3*a.workers/rate(dl, k) for k in ks}                 # CPU ms per image in the loader
    ms_pc, ms0 = {k: 1e3/rate(pc, k) for k in ks}, {k: 1e3/rate(dl0, k) for k in ks}
    ms_main = {k: med([o[k] for o in main_cpu]) for k in ks}
    common, k_aug, t_aug = ms['resize'], ms['keras'] - ms['resize'], ms['table3'] - ms['resize']
    lines += ['', f'Where the time goes, in CPU ms per image (1 / rate per core and without workers, {a.workers} cores / '
              f'rate with {a.workers} workers; the last column is the part of that spent in the main process, which '
              f'receives the batches):', '',
              f'| pipeline | per core | DataLoader, no workers | DataLoader, {a.workers} workers | of which main process |',
              '|---|---:|---:|---:|---:|']
    lines += [f'| {names[k]} | {ms_pc[k]:.2f} | {ms0[k]:.2f} | {ms[k]:.2f} | {ms_main[k]:.2f} |' for k in ks]
    grow = lambda k: f'{ms[k]/ms_pc[k]:.1f}x'
    lines += ['', f'In the {a.workers}-worker loader `table3` adds {t_aug:.2f} ms to resize-only and Keras {k_aug:.2f} ms '
              f'({k_aug/t_aug:.1f}x); the {common:.2f} ms every row shares (decode and stretch, fastai\'s per-item '
              f'transforms, collation and the hand-over from the workers) makes `table3` / Keras ({common:.2f} + '
              f'{k_aug:.2f}) / ({common:.2f} + {t_aug:.2f}) = {(common + k_aug)/(common + t_aug):.1f}x. A free '
              f'augmentation would give {(common + k_aug)/common:.1f}x; 5x needs `table3` to add at most '
              f'{(common + k_aug)/5 - common:.2f} ms per image here. From one process per core to {a.workers} workers the '
              f'CPU time per image grows {grow("keras")} for Keras but {grow("table3")} for `table3` and '
              f'{grow("resize")} for resize-only: the short OpenCV and libjpeg work suffers more from two processes '
              f'running at once than Keras\' long Python and SciPy work does, and the main process takes its share '
              f'of the cores in proportion to the images it receives. The reference iterator parallelised without '
              f'fastai (last row of the first table) gives {flow_workers:.0f} img/s against the Keras row\'s '
              f'{rate(dl, "keras"):.0f}.']
    text = '\n'.join(lines) + '\n'
    print(text)
    if a.out: Path(a.out).write_text('# Table 3 augmentation throughput\n\n' + text)

if __name__ == '__main__': main()
