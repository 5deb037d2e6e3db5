"""Batch inference against the model's own forward speed: `wisefast predict`, fastai's `get_preds` and ONNX Runtime.

    python benchmarks/inference.py                          # 10,000 PNGs; benchmarks/results/inference.md
    python benchmarks/inference.py --repeats 5 --workers 0 1 2
    python benchmarks/inference.py --smoke                  # seconds: every row on a few images, nothing written

`--n-images` Fashion-MNIST test images (the full dataset when installed, else the sample shipped with wisefast, its
images repeated) written as PNG files to a temporary folder; a `--arch` model with a Wise-SrNet head at `--size` px
and 10 classes (random weights: the time does not depend on them), saved with `save_weights`; one torch thread,
batches of `--bs`. Images per second of each pipeline over all the images, the pipelines in turn, `--repeats` times:

- **model forward**, the limit: `model(x)` of the model `load_wise_learner` loads, in eval mode under
  `inference_mode`, on in-memory batches (no decoding, no softmax) of `--n-forward` images, channels-last (what
  `wisefast predict` feeds it; contiguous once per repeat for comparison), measured before the first pipeline and
  after each one: each pipeline's ratio is to the mean of the forward passes just before and after it;
- **`wisefast predict --workers W --csv FILE`**: the `predict` function the command runs, in this process, everything
  included: loading the model, listing the folder, decoding every file (with `W` worker processes), the forward pass,
  the probabilities streamed to a new CSV file, the progress bar (to a buffer);
- **fastai `get_preds`** of the same `Learner` (`load_wise_learner`) on `learn.dls.test_dl(files, num_workers=W)`;
- **ONNX Runtime**: the model exported by `export_onnx`, one intra-op thread, on the in-memory batches.
"""
import argparse, contextlib, io, os, platform, resource, shlex, statistics, sys, tempfile, time, warnings
from functools import partial
from pathlib import Path
import numpy as np, torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT/'benchmarks'/'results'

def write_pngs(folder:Path, n:int) -> str:
    "`n` Fashion-MNIST test images as PNG files in `folder`; where they came from"
    from PIL import Image
    from wisefast.datasets import fashion_mnist_path, is_sample, load_fashion_mnist
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')                       # the sample's "full dataset not found"
        root = fashion_mnist_path()
    x, _ = load_fashion_mnist(root)['test']
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n): Image.fromarray(x[i % len(x)]).save(folder/f'{i:05d}.png')
    return f"the sample shipped with wisefast ({len(x)} test images, repeated)" if is_sample(root) else "the full dataset's test split"

def timed(fn, n:int) -> dict:
    """`fn()` (which handles `n` images) timed: images/s, and CPU ms per image of this process (all its threads) and of
    its children that ended meanwhile (the DataLoader workers)"""
    children = lambda: (lambda r: r.ru_utime + r.ru_stime)(resource.getrusage(resource.RUSAGE_CHILDREN))
    w, c, k = time.perf_counter(), time.process_time(), children()
    fn()
    return dict(rate=n / (time.perf_counter() - w), cpu=1000 * (time.process_time() - c) / n, workers=1000 * (children() - k) / n)

def forward(model, n:int, bs:int, size:int, fmt):
    "A function running `model`'s forward pass on `n` images in in-memory batches of `bs` (memory format `fmt`)"
    x = torch.rand(bs, 3, size, size).contiguous(memory_format=fmt)
    def run():
        with torch.inference_mode():
            for i in range(0, n, bs): model(x[:min(bs, n - i)])
    return run

def onnx_session(learn, path:Path):
    "An ONNX Runtime session, one thread, of `learn`'s model exported by `export_onnx`"
    import onnxruntime as ort
    from wisefast.export import export_onnx
    with contextlib.redirect_stdout(io.StringIO()): export_onnx(learn, path)     # the exporter's progress lines
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=['CPUExecutionProvider'])

def onnx_forward(sess, n:int, bs:int, size:int):
    "A function running ONNX Runtime on `n` images in in-memory batches of `bs`"
    x, name = np.random.rand(bs, 3, size, size).astype(np.float32), sess.get_inputs()[0].name
    def run():
        for i in range(0, n, bs): sess.run(None, {name: x[:min(bs, n - i)]})
    return run

def run_predict(model_file, folder, n:int, bs:int, workers:int, csv:Path):
    "`wisefast predict MODEL FOLDER --bs BS --workers W --csv CSV` (its `predict`, in this process), every image classified"
    from wisefast.cli import predict
    csv.unlink(missing_ok=True)
    with contextlib.redirect_stderr(io.StringIO()): res = predict(model_file, [folder], bs=bs, workers=workers, csv=csv)
    if len(res) != n or any(c is None for _, c, _ in res): raise RuntimeError(f"predict classified {len(res)} of {n} images")

def run_get_preds(learn, files:list, bs:int, workers:int):
    "fastai's `learn.get_preds` on a `test_dl` of `files`"
    with learn.no_bar(): probs, _ = learn.get_preds(dl=learn.dls.test_dl(files, bs=bs, num_workers=workers))
    if len(probs) != len(files): raise RuntimeError(f"get_preds gave {len(probs)} of {len(files)} rows")

FORWARD, CONTIGUOUS = 'model forward (channels-last, in memory)', 'model forward (contiguous, in memory)'

def measure(a, tmp:Path) -> tuple:
    """`({pipeline: [timed(...) of each run]}, {pipeline: [its ratios to the forward pass]}, info)`: a pipeline's
    ratios are to the forward pass measured just before and just after it (the mean of the two), as the load drifts"""
    from wisefast.cli import image_files
    from wisefast.export import save_weights
    from wisefast.load import load_wise_learner
    from wisefast.models import create_wise_model
    where = write_pngs(tmp/'images', a.n_images)
    torch.manual_seed(0)
    save_weights(create_wise_model(a.arch, 10, size=a.size, head='wise', pretrained=False), tmp/'model.safetensors',
                 vocab=[f'class {i}' for i in range(10)])
    model_file, files = tmp/'model.safetensors', image_files([tmp/'images'])
    learn = load_wise_learner(model_file, cpu=True, bs=a.bs)
    model = learn.model.eval()
    fwd = {f: forward(model, a.n_forward, a.bs, a.size, f) for f in (torch.channels_last, torch.contiguous_format)}
    sess = onnx_session(learn, tmp/'model.onnx')
    runs = {**{f'`wisefast predict --workers {w} --csv`': partial(run_predict, model_file, tmp/'images', a.n_images, a.bs, w, tmp/'preds.csv')
               for w in a.workers},
            f'fastai `get_preds` (`num_workers={a.workers[-1]}`)': partial(run_get_preds, learn, files, a.bs, a.workers[-1]),
            'ONNX Runtime (in memory, 1 thread)': onnx_forward(sess, a.n_images, a.bs, a.size)}
    res, ratios = {FORWARD: [], CONTIGUOUS: [], **{k: [] for k in runs}}, {k: dict(wall=[], cpu=[]) for k in runs}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for f in (*fwd.values(), runs['ONNX Runtime (in memory, 1 thread)']): f()          # warm-up
        for r in range(a.repeats):
            res[CONTIGUOUS].append(timed(fwd[torch.contiguous_format], a.n_forward))
            res[FORWARD].append(timed(fwd[torch.channels_last], a.n_forward))
            for k, fn in runs.items():
                res[k].append(timed(fn, a.n_images)); res[FORWARD].append(timed(fwd[torch.channels_last], a.n_forward))
                before, now, after = res[FORWARD][-2], res[k][-1], res[FORWARD][-1]
                ratios[k]['wall'].append(now['rate'] / statistics.mean([before['rate'], after['rate']]))
                ratios[k]['cpu'].append(statistics.mean([before['cpu'], after['cpu']]) / now['cpu'])
            print(f"repeat {r + 1}: " + ', '.join(f"{k} {v[-1]['rate']:.0f}" for k, v in res.items()) + " images/s", flush=True)
    return res, ratios, dict(where=where, params=sum(p.numel() for p in model.parameters()))

def markdown(res:dict, ratios:dict, info:dict, a) -> str:
    "The table of images/s, CPU time per image and the ratios to the model's forward pass"
    med = lambda k, f: statistics.median(r[f] for r in res[k])
    def ratio(k, f):
        if k not in ratios: return ''
        v = ratios[k][f]
        return f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})"
    rows = '\n'.join(f"| {k} | {med(k, 'rate'):.0f} | {min(r['rate'] for r in v):.0f}–{max(r['rate'] for r in v):.0f} | "
                     f"{ratio(k, 'wall')} | {med(k, 'cpu'):.2f} | {med(k, 'workers'):.2f} | {ratio(k, 'cpu')} |"
                     for k, v in res.items())
    predicts = [k for k in ratios if 'wisefast predict' in k]
    best = max(predicts, key=lambda k: statistics.median(ratios[k]['wall']))
    r, cpu = statistics.median(ratios[best]['wall']), statistics.median(ratios[best]['cpu'])
    cmd = shlex.join(['python', 'benchmarks/inference.py', *sys.argv[1:]])
    return '\n'.join([
        "# Batch inference: `wisefast predict`, fastai's `get_preds` and ONNX Runtime against the model's forward pass", "",
        f"Command: `{cmd}`. Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{info['load'][0]:.1f} at the start and {info['load'][1]:.1f} at the end{'; ' + a.note if a.note else ''}; "
        f"torch {torch.__version__}, one torch thread. {a.n_images:,} PNG files ({info['where']}, 28×28 grey), "
        f"`{a.arch}` with a Wise-SrNet head ({info['params']:,} parameters) at {a.size} px, 10 classes, batches of "
        f"{a.bs}. Images per second: the median and the range over {a.repeats} repeats. The model's forward pass (on "
        f"{a.n_forward:,} images, channels-last: the format `wisefast predict` feeds it, "
        f"{'faster' if med(FORWARD, 'rate') >= med(CONTIGUOUS, 'rate') else 'slower'} than contiguous in this run) is "
        f"measured before the first pipeline and after each one; each pipeline's ratio is to the mean of the forward "
        f"passes just before and just after it (median and range over the repeats), as the load of a shared machine "
        f"drifts. CPU time per image: of this process (its torch thread and the rest), and of the DataLoader workers; "
        f"the last column is the forward pass's CPU time per image over this process's, what the ratio would be with "
        f"a free core for each worker (nothing else running).", "",
        "| pipeline | images/s (median) | range | / model forward (wall) | CPU ms/image, this process | CPU ms/image, "
        "workers | / model forward (CPU of this process) |", "|---|---:|---|---|---:|---:|---|", rows, "",
        f"**Goal: `wisefast predict` at ≥ 0.9 of the model's forward pass: {'met' if r >= 0.9 else 'not met'}** "
        f"({best.strip('`')}: {r:.2f} in wall time on this shared machine, {cpu:.2f} in this process's CPU time).", ""])

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n-images', type=int, default=10_000)
    p.add_argument('--arch', default='resnet10t')
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--n-forward', type=int, default=2_000, help="images of each measurement of the model's forward pass")
    p.add_argument('--workers', type=int, nargs='+', default=[0, 2], help="`wisefast predict --workers` values to time "
                   "(`get_preds` runs with the last)")
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--note', default='', help="a sentence on the machine for the Markdown (what else ran)")
    p.add_argument('--out', default=str(OUT/'inference.md'))
    p.add_argument('--smoke', action='store_true', help="every row on a few images, once; writes nothing")
    a = p.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
    torch.set_num_threads(a.threads)
    if a.smoke: a.n_images, a.n_forward, a.arch, a.size, a.bs, a.repeats, a.workers = 96, 96, 'test_resnet', 32, 32, 1, [0, 1]
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d: res, ratios, info = measure(a, Path(d))
    info['load'] = (load0, os.getloadavg()[0])
    md = markdown(res, ratios, info, a)
    print(md)
    if not a.smoke:
        from wisefast.files import write_atomic
        write_atomic(a.out, md)

if __name__ == '__main__': main()
