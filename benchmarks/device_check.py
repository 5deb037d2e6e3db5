"""What one GPU for a few minutes can tell: training speed against fastai, the head's and the gates' cost, one study cell.

    python benchmarks/device_check.py --out DIR              # one CUDA GPU, no internet: under 8 minutes
    python benchmarks/device_check.py --out DIR --smoke      # every part on the CPU, tiny sizes: under a minute

Needs only the project's set-up (`make setup`); nothing is downloaded (`pretrained=False` everywhere, the data made
here from the Fashion-MNIST sample shipped with wisefast, or the full dataset if installed). On CUDA: mixed precision
(float16 autocast, a gradient scaler), channels-last models and batches, `cudnn.benchmark`, the GPU synchronised
before every clock reading; on the CPU none of these (fp32, one torch thread). Each part has a time box (its share
of `--budget` seconds; the head study what is left), stops measuring when it runs out (after the least it measures:
two rounds of steps, one epoch) and records an error instead of stopping the script. Writes
`DIR/device_check.json` (every figure) and `DIR/device_check.md` (the tables), rewritten after each part:

1. **training**: images/s of `wise_learner` and of fastai's `vision_learner` (ResNet-50, 224 px, 10 classes, `to_channelslast()`
   with fastai's mixed precision), (a) the learner's model's own training step on one in-memory batch (forward, loss,
   backward, the learner's own optimiser: `FusedAdam` for `wise_learner`, fastai's `Adam` for `vision_learner`;
   gradient scaling as fastai's `MixedPrecision` does) and (b) the real DataLoader path: `learn.fit(1)` on a folder
   of JPEG files (`wise_dls`, `ImageDataLoaders.from_folder`, fastai's default workers), the train phase timed; the
   two learners interleaved;
2. **head**: the training step (SGD) of ResNet-50 with the Wise-SrNet head and with GAP at 224 and 512 px, interleaved;
3. **recalibration**: ResNet-50 with MS-SAR and with SE in every block (the models `wise_learner(...,
   recalibration=...)` builds, `add_recalibration`: each at its default placement, and MS-SAR at SE's site too)
   against none: training and inference step, interleaved;
4. **head study**: the 16×16 `mosaic_where` cell of `benchmarks/head_study.py`, all 8 heads, one seed, as many epochs as
   the time left allows (at least one; measured on a one-epoch probe of one head), run as its `wisefast compare`
   command (DataLoader workers raised on CUDA: no augmentation, so the same batches).
"""
import argparse, contextlib, io, json, os, platform, shlex, statistics, sys, tempfile, time, traceback, warnings
from pathlib import Path
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import head_study
from recalibration import VARIANTS as RECALIBRATION_VARIANTS

CUDA = torch.cuda.is_available()
DEVICE = torch.device('cuda' if CUDA else 'cpu')
SHARES = dict(training=0.2, head=0.1, recalibration=0.12)      # of the budget; the head study gets what is left

def sync():
    if CUDA: torch.cuda.synchronize()

def clock() -> float:
    "`time.perf_counter()` once the GPU has finished its work"
    sync(); return time.perf_counter()

@contextlib.contextmanager
def quiet():
    "No fastai progress output, no warnings"
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter('ignore'); yield

# ------------------------------------------------------------------------------------------------------------- steps
class Stepper:
    """One training step of `model` (forward, `loss_func`, backward, `opt`) on in-memory `(x, y)`, with mixed precision
    and gradient scaling on CUDA as fastai's `MixedPrecision` does; `opt`: a fastai or a PyTorch optimiser"""
    def __init__(self, model, opt, x, y, loss_func=torch.nn.functional.cross_entropy):
        self.model, self.opt, self.x, self.y, self.loss_func = model.train(), opt, x, y, loss_func
        self.scaler = torch.amp.GradScaler('cuda') if CUDA else None
    def __call__(self):
        with torch.autocast('cuda', dtype=torch.float16, enabled=CUDA):
            loss = self.loss_func(self.model(self.x).float(), self.y)
        if self.scaler is None: loss.backward(); self.opt.step()
        else: self.scaler.scale(loss).backward(); self.scaler.step(self.opt); self.scaler.update()
        self.opt.zero_grad()

def inference_step(model, x):
    "A function running one eval-mode forward pass of `model` on `x` (mixed precision on CUDA)"
    def run():
        with torch.inference_mode(), torch.autocast('cuda', dtype=torch.float16, enabled=CUDA): model.eval()(x)
    return run

def batch(bs:int, size:int, n_out:int=10) -> tuple:
    "A random in-memory batch on the device, channels-last on CUDA"
    fmt = torch.channels_last if CUDA else torch.contiguous_format
    return (torch.rand(bs, 3, size, size, device=DEVICE).contiguous(memory_format=fmt),
            torch.randint(0, n_out, (bs,), device=DEVICE))

def interleaved_ms(fns:dict, steps:int, box:float, min_rounds:int=2) -> dict:
    """Median ms per call of each function of `fns`, in rounds of `steps` calls each, the functions interleaved, rounds
    until `box` seconds have passed (at least `min_rounds`); after one warm-up round"""
    for f in fns.values(): f()
    t_end, res = time.perf_counter() + box, {k: [] for k in fns}
    while len(next(iter(res.values()))) < min_rounds or time.perf_counter() < t_end:
        for k, f in fns.items():
            t = clock()
            for _ in range(steps): f()
            res[k].append(1000 * (clock() - t) / steps)
    return {k: dict(ms=statistics.median(v), ms_range=[min(v), max(v)], rounds=len(v)) for k, v in res.items()}

def prepare(model):
    "`model` on the device, channels-last on CUDA"
    return model.to(DEVICE, memory_format=torch.channels_last if CUDA else torch.contiguous_format)

# ---------------------------------------------------------------------------------------------------------- 1. training
def jpeg_folder(d:Path, n:int, size:int) -> Path:
    "`n` JPEG files of `size` px (Fashion-MNIST test images, enlarged, in colour) in 10 class folders of `d`"
    from PIL import Image
    from wisefast.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist
    with quiet(): x, y = load_fashion_mnist()['test']
    for i in range(n):
        f = d/FASHION_MNIST_CLASSES[y[i % len(y)]].replace('/', '-')/f'{i}.jpg'
        f.parent.mkdir(parents=True, exist_ok=True)
        im = Image.fromarray(x[i % len(x)]).resize((size, size), Image.BILINEAR)
        Image.merge('RGB', (im, im.point(lambda v: 255 - v), im)).save(f, quality=90)
    return d

def fit_rate(learn) -> float:
    "Images/s of one epoch's train phase of `learn.fit(1)` (data loading included, validation not)"
    from fastai.callback.core import Callback
    class Timer(Callback):
        order = -100
        def before_train(self): self.t0 = clock()
        def after_train(self): self.secs = clock() - self.t0
    cb = Timer()
    with quiet(), learn.no_bar(): learn.fit(1, 1e-4, cbs=cb)
    return len(learn.dls.train) * learn.dls.train.bs / cb.secs

def training(a, box:float) -> dict:
    from fastai.vision.all import ImageDataLoaders, Resize, vision_learner
    from wisefast.data import wise_dls
    from wisefast.learner import wise_learner
    t_end = time.perf_counter() + box
    with tempfile.TemporaryDirectory() as d:
        folder = jpeg_folder(Path(d), a.n_images, a.jpeg_size)
        with quiet():
            wdls = wise_dls(folder, size=a.size, bs=a.bs, augment=False, valid_pct=0.02, seed=0, device=DEVICE)
            fdls = ImageDataLoaders.from_folder(folder, valid_pct=0.02, seed=0, bs=a.bs, device=DEVICE,
                                                item_tfms=Resize(a.size, method='squish'))
            learners = {'wise_learner': wise_learner(wdls, a.arch, pretrained=False),
                        'vision_learner': vision_learner(fdls, a.arch, pretrained=False)}
        for learn in learners.values():
            if CUDA: learn.to_channelslast()                          # with fastai's mixed precision
            prepare(learn.model); learn.create_opt()
        x, y = batch(a.bs, a.size)
        steps = {f"{k}: model's own step (in memory)": Stepper(l.model, l.opt, x, y, l.loss_func) for k, l in learners.items()}
        ms = interleaved_ms(steps, a.steps, box / 3)
        res = {k: dict(images_per_s=1000 * a.bs / v['ms'], **v) for k, v in ms.items()}
        fits = {f"{k}: learn.fit, JPEG files (DataLoader)": l for k, l in learners.items()}
        for l in fits.values(): fit_rate(l)                               # warm-up: workers, cudnn's choices
        rates = {k: [] for k in fits}
        while not rates[next(iter(fits))] or time.perf_counter() < t_end:
            for k, l in fits.items(): rates[k].append(fit_rate(l))
        res.update({k: dict(images_per_s=statistics.median(v), range=[min(v), max(v)], epochs=len(v)) for k, v in rates.items()})
        info = dict(arch=a.arch, size=a.size, bs=a.bs, n_train=len(wdls.train) * a.bs, jpeg_size=a.jpeg_size,
                    workers=wdls.train.fake_l.num_workers, mixed_precision=CUDA)
    ratio = lambda kind: res[f'wise_learner: {kind}']['images_per_s'] / res[f'vision_learner: {kind}']['images_per_s']
    return dict(rows=res, info=info, ratios={'wise / vision, own step': ratio("model's own step (in memory)"),
                                              'wise / vision, learn.fit': ratio('learn.fit, JPEG files (DataLoader)')})

# -------------------------------------------------------------------------------------------------------------- 2. head
def head(a, box:float) -> dict:
    from wisefast.models import create_wise_model
    res = {}
    for size, bs in ((a.size, a.bs), (a.big_size, a.big_bs)):
        steps = {}
        for h in ('gap', 'wise'):
            with quiet(): m = prepare(create_wise_model(a.arch, 10, size=size, head=h, pretrained=False))
            steps[f'{h}, {size} px'] = Stepper(m, torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9), *batch(bs, size))
        res.update({k: dict(bs=bs, **v) for k, v in interleaved_ms(steps, a.steps, box / 2).items()})
        res[f'wise / gap, {size} px'] = res[f'wise, {size} px']['ms'] / res[f'gap, {size} px']['ms']
    return dict(rows=res)

# ----------------------------------------------------------------------------------------------------- 3. recalibration
def recalibration(a, box:float) -> dict:
    from wisefast.models import create_wise_model
    x, y = batch(a.bs, a.size)
    models = {}
    for k, kw in RECALIBRATION_VARIANTS.items():
        with quiet(): models[k] = prepare(create_wise_model(a.arch, 10, size=a.size, pretrained=False, **kw))
    train = interleaved_ms({k: Stepper(m, torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9), x, y)
                            for k, m in models.items()}, a.steps, box / 2)
    infer = interleaved_ms({k: inference_step(m, x) for k, m in models.items()}, a.steps, box / 2)
    rows = {k: dict(train_ms=train[k]['ms'], train_vs_none=train[k]['ms'] / train['none']['ms'],
                    inference_ms=infer[k]['ms'], inference_vs_none=infer[k]['ms'] / infer['none']['ms'],
                    rounds=train[k]['rounds'], params=sum(p.numel() for p in models[k].parameters())) for k in models}
    return dict(rows=rows)

# ------------------------------------------------------------------------------------------------------- 4. head study
def study(a, box:float) -> dict:
    "The 16×16 `mosaic_where` cell, every head, one seed, as many epochs as fit in `box` seconds (a one-epoch probe first)"
    from wisefast.cli import main as wisefast
    t_end = time.perf_counter() + box
    s = head_study.parse_args(['--cells', 'mosaic_where:16', '--seeds', '0', *a.study_args])
    c = head_study.cells(s)[0]
    workers = str(min(8, os.cpu_count())) if CUDA else '0'
    def argv(out, **kw):
        v = head_study.compare_argv(head_study.argparse.Namespace(**{**vars(s), **kw}), c, 0, out)
        v[v.index('--workers') + 1] = workers
        return v
    with tempfile.TemporaryDirectory() as d:
        probe = argv(Path(d)/'probe', heads='gap:default', epochs=1)
        t = time.perf_counter()
        with quiet():
            if rc := wisefast(['compare', *probe]): raise RuntimeError(f"wisefast compare {shlex.join(probe)}: exit code {rc}")
        per_epoch = (time.perf_counter() - t) * 1.1            # one head's epoch with its set-up: a safe upper bound
        heads = s.heads.split(',')
        epochs = max(1, int((t_end - time.perf_counter()) / (len(heads) * per_epoch)))
        run = argv(Path(d)/'run', epochs=epochs)
        t = time.perf_counter()
        with quiet():
            if rc := wisefast(['compare', *run]): raise RuntimeError(f"wisefast compare {shlex.join(run)}: exit code {rc}")
        secs = time.perf_counter() - t
        s.epochs = epochs
        rows, _ = head_study.run_rows(s, c, 0, Path(d)/'run', probe=False)
    gap = next(r['final_top1'] for r in rows if r['head'] == 'gap')
    return dict(rows={head_study.label(r['head'], r['init']): dict(final_top1=r['final_top1'], best_top1=r['best_top1'],
                                                                   final_minus_gap=r['final_top1'] - gap,
                                                                   sec_per_epoch=r['sec_per_epoch']) for r in rows},
                info=dict(epochs=epochs, seconds=secs, probe_seconds=per_epoch / 1.1, n_train=rows[0]['n_train'],
                          n_test=rows[0]['n_test'],
                          command=shlex.join(['wisefast', 'compare', *argv(f"runs/{head_study.cell_name(c)}_s0", epochs=epochs)])))

# ------------------------------------------------------------------------------------------------------------- report
def _f(v, fmt='{:.1f}') -> str: return fmt.format(v) if isinstance(v, (int, float)) else str(v)

def markdown(res:dict) -> str:
    m = res['machine']
    out = ["# Device check", "", f"Command: `{res['command']}`. Device: {m['device']}; {m['cpus']} CPUs; torch {m['torch']}"
           f"{', CUDA ' + m['cuda'] if m['cuda'] else ''}; {'mixed precision (float16), channels-last, cudnn.benchmark' if CUDA else 'fp32, one torch thread (no GPU: a smoke run)'}. "
           f"{res['seconds']:.0f} s in all (budget {res['budget']:.0f} s).", ""]
    parts = res['parts']
    def failed(name):
        p = parts.get(name)
        if p is None: out.extend(["Not run.", ""]); return True
        if p.get('error'): out.extend([f"Failed after {p['seconds']:.0f} s: `{p['error']}`", ""]); return True
        return False
    out += ["## 1. Training: wise_learner against vision_learner", ""]
    if not failed('training'):
        p, i = parts['training'], parts['training']['info']
        out += [f"`{i['arch']}`, {i['size']} px, batches of {i['bs']}, 10 classes, `pretrained=False`; `learn.fit`: "
                f"{i['n_train']} training images per epoch from {i['jpeg_size']} px JPEG files, {i['workers']} DataLoader "
                f"workers ({p['seconds']:.0f} s).", "", "| pipeline | images/s | detail |", "|---|---:|---|"]
        out += [f"| {k} | {v['images_per_s']:.0f} | " + (f"{v['ms']:.1f} ms a step ({v['rounds']} rounds)" if 'ms' in v else
                f"{v['epochs']} epochs, {v['range'][0]:.0f}–{v['range'][1]:.0f}") + " |" for k, v in p['rows'].items()]
        out += ["", ', '.join(f"**{k}: {v:.2f}×**" for k, v in p['ratios'].items()), ""]
    out += ["## 2. Head: Wise-SrNet against GAP, training step", ""]
    if not failed('head'):
        rows = parts['head']['rows']
        out += ["| model | batch | ms a step (median) | range |", "|---|---:|---:|---|"]
        out += [f"| {k} | {v['bs']} | {v['ms']:.1f} | {v['ms_range'][0]:.1f}–{v['ms_range'][1]:.1f} |" for k, v in rows.items() if isinstance(v, dict)]
        out += ["", ', '.join(f"**{k}: {v:.3f}×**" for k, v in rows.items() if not isinstance(v, dict)), ""]
    out += ["## 3. Recalibration: MS-SAR and SE against none", ""]
    if not failed('recalibration'):
        rows = parts['recalibration']['rows']
        out += ["| gates | parameters | train step (ms) | / none | inference (ms) | / none |", "|---|---:|---:|---:|---:|---:|"]
        out += [f"| {k} | {v['params']:,} | {v['train_ms']:.1f} | {v['train_vs_none']:.3f}× | {v['inference_ms']:.1f} | "
                f"{v['inference_vs_none']:.3f}× |" for k, v in rows.items()]
        out += [""]
    out += ["## 4. Head study: the 16×16 mosaic_where cell, one seed", ""]
    if not failed('study'):
        p, i = parts['study'], parts['study']['info']
        out += [f"{i['n_train']} training and {i['n_test']} test images, {i['epochs']} epoch(s) ({i['seconds']:.0f} s; a "
                f"one-epoch probe of one head took {i['probe_seconds']:.0f} s). Command:", "", f"```\n{i['command']}\n```", "",
                "| head | final top-1 (%) | best top-1 (%) | final − GAP (points) | s/epoch |", "|---|---:|---:|---:|---:|"]
        out += [f"| {k} | {100*v['final_top1']:.2f} | {100*v['best_top1']:.2f} | {100*v['final_minus_gap']:+.2f} | "
                f"{v['sec_per_epoch']:.1f} |" for k, v in p['rows'].items()]
        out += [""]
    return '\n'.join(out)

def write(out:Path, res:dict):
    from wisefast.files import write_atomic
    write_atomic(out/'device_check.json', json.dumps(res, indent=1))
    write_atomic(out/'device_check.md', markdown(res))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', required=True, help="folder for device_check.json and device_check.md")
    p.add_argument('--budget', type=float, default=420, help="seconds for all the parts (default: 420)")
    p.add_argument('--arch', default='resnet50')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--big-size', type=int, default=512, help="the head part's second image size")
    p.add_argument('--big-bs', type=int, default=16)
    p.add_argument('--n-images', type=int, default=4096, help="JPEG files of the training part")
    p.add_argument('--jpeg-size', type=int, default=256)
    p.add_argument('--steps', type=int, default=10, help="steps per timed round")
    p.add_argument('--parts', default='training,head,recalibration,study')
    p.add_argument('--smoke', action='store_true', help="every part on the CPU with tiny sizes (under a minute)")
    a = p.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
    a.study_args = []
    if a.smoke:
        a.budget, a.arch, a.size, a.bs, a.big_size, a.big_bs, a.n_images, a.jpeg_size, a.steps = 20, 'test_resnet', 64, 8, 128, 4, 48, 72, 1
        a.study_args = ['--epochs', '1', '--n-train', '1', '--n-test', '1']
    if CUDA: torch.backends.cudnn.benchmark = True
    else: torch.set_num_threads(1)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = dict(command=shlex.join(['python', 'benchmarks/device_check.py', *(argv if argv is not None else sys.argv[1:])]),
               budget=a.budget, seconds=0.0, parts={},
               machine=dict(device=torch.cuda.get_device_name() if CUDA else f'CPU ({platform.machine()})',
                            cpus=os.cpu_count(), torch=torch.__version__, cuda=torch.version.cuda if CUDA else None))
    parts = dict(training=training, head=head, recalibration=recalibration, study=study)
    for name in a.parts.split(','):
        left = a.budget - (time.perf_counter() - t0)
        box = max(0, left if name == 'study' else min(left, a.budget * SHARES[name]))   # 0: the least each part does
        t = time.perf_counter()
        print(f"[device check] {name}: up to {box:.0f} s", flush=True)
        try: res['parts'][name] = parts[name](a, box)
        except Exception as e:
            traceback.print_exc()
            res['parts'][name] = dict(error=f"{type(e).__name__}: {str(e)[:300]}")
        res['parts'][name]['seconds'] = time.perf_counter() - t
        res['seconds'] = time.perf_counter() - t0
        write(out, res)
        if CUDA: torch.cuda.empty_cache()
    print(markdown(res))

if __name__ == '__main__': main()
