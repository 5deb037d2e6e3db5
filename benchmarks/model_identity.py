#!/usr/bin/env python
"""One model, every file: do all the ways a wisefast model is saved and loaded give the same predictions, and are bad
model files refused?

    python benchmarks/model_identity.py            # writes benchmarks/results/model_identity.md (under a minute on a CPU)
    python benchmarks/model_identity.py --smoke    # the same on fewer images, nothing written (the test suite runs it)

**Parity.** Four small models (timm's `test_resnet`, trained for a few steps on the Fashion-MNIST sample shipped with
wisefast), each with preprocessing that is not wisefast's default:
- `fastai_crop`: fastai's own `ImageDataLoaders` with `Resize(48)` (a bilinear center crop) and ImageNet statistics;
- `bilinear`: `wise_dls` stretching with bilinear resampling;
- `caffe`: `wise_dls` with the paper's Caffe preprocessing (BGR, mean subtraction);
- `grey`: fastai's `DataBlock` of one-channel `PILImageBW` images, padded with zeros (`n_in=1`).
Each is saved as `export.pkl`, `model.safetensors`, a run folder (`export_run`), a Hub folder (`save_pretrained`), a
Hub id (that folder in a `huggingface_hub` cache, offline) and an ONNX file, and loaded back through the API
(`load_wise_learner`; ONNX Runtime on the same resized pixels) and through `wisefast predict --csv`. The table gives the
largest |Δ probability| against the trained learner on the same image files.

**Refusals.** Model files edited the ways a careless or hostile writer would edit them, each given to
`wisefast predict`: the exit code and the one line it prints.
"""
import argparse, contextlib, io, json, os, shutil, sys, tempfile, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch

RESULTS = Path(__file__).resolve().parent/'results'
KINDS = ('fastai_crop', 'bilinear', 'caffe', 'grey')
SOURCES = ('export.pkl', 'model.safetensors', 'run folder', 'Hub folder', 'hf-hub id', 'ONNX')
CLASSES = ('T-shirt/top', 'Trouser', 'Pullover')

def _images(root:Path, n_per_class:int) -> Path:
    "Class folders of PNGs from the Fashion-MNIST sample shipped with wisefast (three classes)"
    from PIL import Image
    from wisefast.datasets import load_fashion_mnist, sample_path
    x, y = load_fashion_mnist(sample_path())['train']
    for c, name in enumerate(CLASSES):
        d = root/name.replace('/', '-'); d.mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(y == c)[:n_per_class]: Image.fromarray(x[i]).save(d/f'{i}.png')
    return root

def make_dls(kind:str, folder:Path):
    "The DataLoaders of model `kind` (see above)"
    from fastai.vision.all import (ImageDataLoaders, DataBlock, ImageBlock, CategoryBlock, PILImageBW, Resize, Normalize,
                                   get_image_files, parent_label, RandomSplitter, imagenet_stats)
    from wisefast.data import wise_dls
    kw = dict(bs=8, num_workers=0)
    if kind == 'fastai_crop':
        return ImageDataLoaders.from_folder(folder, valid_pct=0.25, seed=0, item_tfms=Resize(48),
                                            batch_tfms=Normalize.from_stats(*imagenet_stats), **kw)
    if kind == 'grey':
        db = DataBlock((ImageBlock(PILImageBW), CategoryBlock), get_items=get_image_files, get_y=parent_label,
                       splitter=RandomSplitter(0.25, seed=0), item_tfms=Resize(40, method='pad', pad_mode='zeros'))
        return db.dataloaders(folder, **kw)
    return wise_dls(folder, size=(48, 40), augment=False, seed=0, valid_pct=0.25, resample='bilinear' if kind == 'bilinear'
                    else 'nearest', preprocess='caffe' if kind == 'caffe' else 'torch', **kw)

def train(kind:str, folder:Path, out:Path):
    "A learner of `kind` trained a few steps, its run folder `out`"
    from fastai.vision.all import set_seed
    from wisefast.learner import wise_learner
    set_seed(0)
    learn = wise_learner(make_dls(kind, folder), 'test_resnet', pretrained=False, head='wise', path=out)
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-2)
    return learn

def save_all(learn, out:Path, cache:Path, repo:str) -> dict:
    "{source: path or id}: the model saved every way, the Hub id in `cache` (`huggingface_hub`'s layout)"
    from wisefast.export import export_run, save_weights, export_onnx
    from wisefast.hub import save_pretrained
    run = export_run(learn)
    hub = save_pretrained(learn, out/'hub')
    snap = cache/f"models--{repo.replace('/', '--')}"/'snapshots'/('a' * 40)
    shutil.copytree(hub, snap)
    (snap.parents[1]/'refs').mkdir(exist_ok=True); (snap.parents[1]/'refs'/'main').write_text('a' * 40)
    save_weights(learn, out/'alone.safetensors')
    return {'export.pkl': run/'export.pkl', 'model.safetensors': out/'alone.safetensors', 'run folder': run,
            'Hub folder': hub, 'hf-hub id': f'hf-hub:{repo}', 'ONNX': export_onnx(learn, out/'model.onnx', dynamo=False)}

def _pixels(learn, files) -> torch.Tensor:
    "The `[0, 1]` pixels the learner's pipeline feeds the model (resized, not yet normalised): what ONNX takes"
    from fastai.vision.all import Normalize
    dl = learn.dls.test_dl(files, bs=len(files), num_workers=0)
    x = dl.one_batch()[0]
    for t in reversed([t for t in dl.after_batch.fs if isinstance(t, Normalize)]): x = t.decode(x)
    return x.as_subclass(torch.Tensor).float().contiguous()

def api_probs(source:str, where, learn, files) -> torch.Tensor:
    "Class probabilities of the model in `where` on `files`, loaded through the API (ONNX: ONNX Runtime)"
    if source == 'ONNX':
        import onnxruntime as ort
        sess = ort.InferenceSession(str(where), providers=['CPUExecutionProvider'])
        return torch.from_numpy(sess.run(None, {'image': _pixels(learn, files).numpy()})[0]).softmax(1)
    from wisefast.load import load_wise_learner
    loaded = load_wise_learner(where, cpu=True)
    with loaded.no_bar(): return loaded.get_preds(dl=loaded.dls.test_dl(files, num_workers=0))[0]

def cli(*argv) -> tuple:
    "`(exit code, stdout, stderr)` of the `wisefast` command with `argv`"
    from wisefast.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()

def cli_probs(where, files, tmp:Path) -> torch.Tensor:
    "Class probabilities through `wisefast predict --csv`"
    f = tmp/f'preds-{abs(hash(str(where)))}.csv'
    code, _, err = cli('predict', where, *files, '--csv', f)
    if code: raise RuntimeError(f"wisefast predict {where}: exit {code}: {err}")
    df = pd.read_csv(f).set_index('file').loc[[str(o) for o in files]]
    return torch.tensor(df.iloc[:, 2:].to_numpy(np.float64), dtype=torch.float32)

def parity(tmp:Path, n_per_class:int, n_test:int) -> pd.DataFrame:
    "Rows (model, source, way, max |Δprob|) for every model kind, source and way of loading"
    import huggingface_hub.constants as hub_constants
    folder, cache = _images(tmp/'images', n_per_class), tmp/'hub-cache'
    files = sorted(folder.rglob('*.png'))[::max(1, len(list(folder.rglob('*.png'))) // n_test)][:n_test]
    rows = []
    with warnings.catch_warnings(), _patched(hub_constants, 'HF_HUB_CACHE', str(cache)):
        warnings.simplefilter('ignore')
        for kind in KINDS:
            learn = train(kind, folder, tmp/kind)
            with learn.no_bar(): ref = learn.get_preds(dl=learn.dls.test_dl(files, num_workers=0))[0]
            for source, where in save_all(learn, tmp/kind, cache, f'me/{kind}').items():
                for way, probs in (('API', lambda: api_probs(source, where, learn, files)),
                                   ('wisefast predict', None if source == 'ONNX' else lambda: cli_probs(where, files, tmp))):
                    if probs is None: continue
                    rows.append(dict(model=kind, source=source, way=way, max_abs_diff=float((probs() - ref).abs().max())))
    return pd.DataFrame(rows)

@contextlib.contextmanager
def _patched(obj, name, value):
    old = getattr(obj, name); setattr(obj, name, value)
    try: yield
    finally: setattr(obj, name, old)

# -------------------------------------------------------------------------------------------------------- refusals
def _edited_header(src:Path, dst:Path, config=None, tensors=None) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    with safe_open(str(src), 'pt') as f: meta = f.metadata()
    cfg = {**json.loads(meta['wisefast_config']), **(config or {})}
    save_file({**load_file(str(src)), **(tensors or {})}, str(dst), metadata={**meta, 'wisefast_config': json.dumps(cfg)})
    return dst

def _edited_folder(src:Path, dst:Path, **config) -> Path:
    shutil.copytree(src, dst)
    d = json.loads((dst/'config.json').read_text())
    d['config'].update(config)
    (dst/'config.json').write_text(json.dumps(d))
    return dst

def refusals(tmp:Path) -> pd.DataFrame:
    "Rows (case, file, exit code, message) of `wisefast predict` on edited and hostile model files"
    from safetensors.torch import load_file
    from wisefast.export import save_weights
    from wisefast.hub import save_pretrained
    folder = _images(tmp/'images', 4)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn = train('bilinear', folder, tmp/'model')
    st, hub = save_weights(learn, tmp/'model.safetensors'), save_pretrained(learn, tmp/'hub')
    nan = {k: v.clone().fill_(float('nan')) for k, v in load_file(str(st)).items() if k.endswith('fc.weight')}
    class Evil:
        def __reduce__(self): return (os.system, (f'touch {tmp}/pwned',))
    torch.save({'model': {}, 'payload': Evil()}, tmp/'evil.pth')
    cases = {
        "vocab of 5 names for a 3-output model": _edited_header(st, tmp/'vocab.safetensors', dict(vocab=list('abcde'))),
        "NaN normalisation mean": _edited_header(st, tmp/'nanmean.safetensors',
                                                 dict(norm=[dict(mean=[float('nan')] * 3, std=[1.] * 3, bgr=False)])),
        "NaN weights": _edited_header(st, tmp/'nanw.safetensors', tensors=nan),
        "lin_ftrs of 2,000,000,000": _edited_folder(hub, tmp/'linftrs', head='fastai', head_opts=dict(lin_ftrs=[2_000_000_000])),
        "pool of 1,000,000 × 1,000,000": _edited_folder(hub, tmp/'pool', pool=[1_000_000, 1_000_000]),
        "an image of 1,000,000 px": _edited_folder(hub, tmp/'size', size=[1_000_000, 1_000_000]),
        "a backbone asked to load another file": _edited_folder(hub, tmp/'ckpt', timm_kwargs=dict(checkpoint_path='/etc/passwd')),
        "an unknown field": _edited_folder(hub, tmp/'unknown', code='import os'),
        "a derived field that lies (nf)": _edited_header(st, tmp/'nf.safetensors', dict(nf=7)),
        "a .pth holding a pickled payload": tmp/'evil.pth',
    }
    img = next(folder.rglob('*.png'))
    rows = []
    for case, f in cases.items():
        code, _, err = cli('predict', f, img)
        lines = [l for l in err.strip().splitlines() if not l.startswith('warning:')]
        rows.append(dict(case=case, file=f.name, exit=code, lines=len(lines),
                         message=lines[-1].replace(f'{tmp}/', '') if lines else ''))
    if (tmp/'pwned').exists(): raise AssertionError("a payload in a .pth ran")
    return pd.DataFrame(rows)

# ------------------------------------------------------------------------------------------------------------ main
def markdown(par:pd.DataFrame, ref:pd.DataFrame, cmd:str) -> str:
    from wisefast.experiments import results_markdown
    table = par.assign(cell=lambda d: d.model + ' · ' + d.way).pivot_table(index='source', columns='cell',
                                                                          values='max_abs_diff', aggfunc='max')
    table = table.reindex(SOURCES).map(lambda v: '' if pd.isna(v) else f'{v:.1e}').reset_index()
    about = __doc__[__doc__.index('**Parity.**'):].strip()
    return (f"# One model, every file\n\n{about}\n\nReproduce: `{cmd}`.\n\n"
            f"## Parity: max |Δ probability| against the trained learner\n\n"
            f"Largest over all cells: {par.max_abs_diff.max():.1e} (the bar: 1e-5).\n\n{results_markdown(table)}\n"
            f"## Refused model files (`wisefast predict FILE IMAGE`)\n\n{results_markdown(ref)}")

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--smoke', action='store_true', help="fewer images, nothing written")
    p.add_argument('--out', default=str(RESULTS/'model_identity.md'))
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        par = parity(Path(d)/'parity', 6 if a.smoke else 30, 6 if a.smoke else 24)
        ref = refusals(Path(d)/'refusals')
    print(par.to_string()); print(ref.to_string())
    if not a.smoke:
        from wisefast.files import write_atomic
        write_atomic(a.out, markdown(par, ref, 'python benchmarks/model_identity.py'))
    return par, ref

if __name__ == '__main__': main()
