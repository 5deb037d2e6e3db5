#!/usr/bin/env python
"""Reliability trial: the faults and bad inputs of issue 26 (and the earlier rounds' cases the tests hold, where cheap),
met as a user meets them, each outcome classified by what the user sees.

    python benchmarks/reliability_trial.py           # writes benchmarks/results/reliability_trial.md (minutes on a CPU)
    python benchmarks/reliability_trial.py --smoke   # a case or two of each group, nothing written (the tests run it)

Every case runs a `wisefast` command (in this process, through `wisefast.cli.main`, or as a process where it must be
killed) or a call of the library, on small real data made on the spot (the Fashion-MNIST sample shipped with wisefast),
against a local HTTP server, or on a small file system (a tmpfs, where this user may mount one). Outcomes:
- **clear error**: refused with one line saying what was wrong and what to do (exit code 2, or 1 where some work was
  done; no traceback); in the API, an exception of a user-error type whose message is one line;
- **warned**: done, with a warning that says what happened;
- **handled**: done, correctly, with nothing to say;
- **unclear message**: refused or warned in one line that misses what the case needs said;
- **silently wrong**: done without a word, with a wrong result;
- **crash**: a traceback, or an exception a user cannot act on;
- **data lost**: a file of the user's replaced or removed;
- **not run**: this machine cannot stage the case (the reason is given).
"""
import argparse, contextlib, io, json, os, shutil, signal, stat, struct, subprocess, sys
import tempfile, time, traceback, types, warnings, zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

RESULTS = Path(__file__).resolve().parent/'results'
GROUPS = ('archives', 'folders', 'downloads', 'command line', 'crash safety', 'model files', 'API')
OUTCOMES = ('clear error', 'warned', 'handled', 'unclear message', 'silently wrong', 'crash', 'data lost', 'not run')
WISEFAST = Path(sys.executable).parent/'wisefast'

@dataclass
class Case:
    group: str
    name: str
    call: str          # what a user types or calls
    fn: object         # fn(tmp: Path) -> (outcome, note)
    issue: str         # the issue that reported it
    smoke: bool

CASES = []

def case(group:str, name:str, call:str, issue:str='26', smoke:bool=False):
    "Register `fn(tmp) -> (outcome, note)` as a case of `group`"
    assert group in GROUPS, group
    def register(fn): CASES.append(Case(group, name, call, fn, issue, smoke)); return fn
    return register

class NotRun(Exception): "The case cannot be staged here"

# ---------------------------------------------------------------------------------------------- what a user sees
@dataclass
class Ran:
    code: int
    out: str
    err: str
    crashed: bool = False

def cli(*argv) -> Ran:
    "`wisefast ARGV` in this process: its exit code and what it printed (a traceback if it raised)"
    from wisefast.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: return Ran(main([str(a) for a in argv]), out.getvalue(), err.getvalue())
        except Exception: return Ran(1, out.getvalue(), err.getvalue() + traceback.format_exc(), crashed=True)

def _split(err:str) -> tuple:
    lines = [l for l in err.splitlines() if l.strip()]
    return [l for l in lines if not l.startswith('warning:')], [l for l in lines if l.startswith('warning:')]

def judged(r:Ran, *says) -> tuple:
    "(outcome, note) of a command from what it printed; `says`: words the error or warning must hold"
    errs, warns = _split(r.err)
    if r.crashed or 'Traceback' in r.err: return 'crash', (errs or ['?'])[-1]
    if r.code:
        if len(errs) != 1: return 'crash', f"{len(errs)} lines: {(errs or ['?'])[-1]}"
        return ('clear error' if all(s in errs[0] for s in says) else 'unclear message'), errs[0]
    if warns:
        w = next((w for w in warns if all(s in w for s in says)), None) if says else warns[0]
        return ('warned', w) if w else ('unclear message', warns[0])
    return 'handled', r.out.strip().splitlines()[-1] if r.out.strip() else ''

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError,
               ConnectionError, ImportError)

def called(fn, *says) -> tuple:
    "(outcome, note, result) of the call `fn()`: a user error in one line, warnings, or done"
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        try: res = fn()
        except Exception as e:
            msg = f"{type(e).__name__}: {e}"
            if isinstance(e, USER_ERRORS) and '\n' not in str(e).strip():
                return ('clear error' if all(s in msg for s in says) else 'unclear message'), msg, None
            return 'crash', msg.splitlines()[0], None
    ours = [str(w.message) for w in ws if issubclass(w.category, UserWarning)]
    if ours:
        w = next((w for w in ours if all(s in w for s in says)), None) if says else ours[0]
        return ('warned', w, res) if w else ('unclear message', ours[0], res)
    return 'handled', '', res

# ---------------------------------------------------------------------------------------------------- data
def images(d:Path, n:int=10, classes=range(10)) -> Path:
    "Class folders of `n` real 28×28 images each (Fashion-MNIST sample), one per class in `classes`"
    import numpy as np
    from PIL import Image
    from wisefast.datasets import load_fashion_mnist, sample_path
    x, y = load_fashion_mnist(sample_path())['train']
    for c in classes:
        (Path(d)/str(c)).mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(y == c)[:n]: Image.fromarray(x[i]).save(Path(d)/str(c)/f'{i}.png')
    return Path(d)

def train_argv(data, out, *extra) -> list:
    "A tiny `wisefast train`: test_resnet at 64 px (a 2×2 map), one epoch, no workers, one thread"
    return ['train', '--data', data, '--arch', 'test_resnet', '--size', '64', '--bs', '16', '--epochs', '1',
            '--augment', 'none', '--workers', '0', '--threads', '1', '--out', out, *extra]

def compare_argv(data, out, *extra) -> list:
    return ['compare', data, '--heads', 'gap', '--arch', 'test_resnet', '--size', '64', '--bs', '16', '--epochs', '1',
            '--augment', 'none', '--workers', '0', '--threads', '1', '--out', out, *extra]

_SHARED = {}

def shared(name:str, make):
    "What `make()` builds once per trial (the image folder, a trained run)"
    if name not in _SHARED: _SHARED[name] = make()
    return _SHARED[name]

def folder() -> Path: return shared('images', lambda: images(ROOT/'images'))

def trained_run() -> Path:
    def make():
        r = cli(*train_argv(folder(), ROOT/'run'))
        if r.code: raise RuntimeError(f"the shared run failed: {r.err[-2000:]}")
        return ROOT/'run'
    return shared('run', make)

def history(out:Path) -> list: return (out/'history.csv').read_text().splitlines()[1:] if (out/'history.csv').exists() else []

def temporaries(d:Path) -> list: return [p for p in Path(d).rglob('*') if 'tmp' in p.name]

def tmpfs(d:Path, size:str, ro:bool=False) -> Path:
    "A new tmpfs of `size` at `d` (read-only if `ro`); `NotRun` where mounting is not allowed"
    if os.geteuid() != 0 or not shutil.which('mount'): raise NotRun("mounting a tmpfs needs root")
    d.mkdir(parents=True)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', f"size={size}{',ro' if ro else ''}", 'tmpfs', str(d)], capture_output=True, text=True)
    if r.returncode: raise NotRun(f"mount is not permitted here ({r.stderr.strip()})")
    MOUNTS.append(d)
    return d

MOUNTS = []

# ------------------------------------------------------------------------------------------------------- archives
def _zip(fn:Path, entries) -> Path:
    "A zip of `entries`: (name, data) files, (name, target, 'link') symlinks, (name, None) folders"
    with zipfile.ZipFile(fn, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data, *link in entries:
            zi = zipfile.ZipInfo(name); zi.compress_type = zipfile.ZIP_DEFLATED
            if link: zi.external_attr = 0o120777 << 16
            elif data is None: zi.external_attr = (0o40755 << 16) | 0x10
            z.writestr(zi, data or '')
    return fn

ESCAPES = {
    'a chain of links, then a file through it': [('p1/p2/s', '../..', 'link'), ('x', 'p1/p2/s/../../ESCAPED.txt', 'link'), ('x', 'pwned')],
    'a deeper chain of links': [('a/b/c/s', '../../..', 'link'), ('t', 'a/b/c/s/../../../../ESCAPED.txt', 'link'), ('t', 'pwned')],
    'a file through a link to ..': [('up', '..', 'link'), ('up/ESCAPED.txt', 'pwned')],
    'a folder through a link to ..': [('up', '..', 'link'), ('up/ESCAPED/', None)],
    'a link through a later link': [('x', 's/../ESCAPED.txt', 'link'), ('s', 'a', 'link'), ('a/', None)],
    'a link left pointing out': [('d/s', '..', 'link'), ('out', 'd/s/../ESCAPED.txt', 'link')],
    'a file after a link of the same name': [('x', '../ESCAPED.txt', 'link'), ('x', 'pwned')],
    'a link loop': [('a/l', '..', 'link')],
    'a link and a file whose names differ in case only': [('S', '..', 'link'), ('s/ESCAPED.txt', 'pwned')],
    'an absolute path': [('/tmp/ESCAPED.txt', 'pwned')],
    "a path climbing with '..'": [('a/../../ESCAPED.txt', 'pwned')],
    'a Windows drive path': [('C:\\ESCAPED.txt', 'pwned')],
}

def _extract(tmp:Path, entries, says=()) -> tuple:
    "Extract a zip of `entries` 3 folders down in `tmp`: refused (nothing written), or what escaped"
    from wisefast.archives import safe_extract
    z, work = _zip(tmp/'a.zip', entries), tmp/'w'/'x'/'y'
    work.mkdir(parents=True)
    outcome, note, _ = called(lambda: safe_extract(z, work/'dest'), *says)
    escaped = [p for p in tmp.rglob('ESCAPED*') if work/'dest' not in p.parents] + list(Path('/tmp').glob('ESCAPED*'))
    if escaped: return 'silently wrong', f"written outside the destination: {escaped[0]}"
    if outcome == 'clear error' and (work/'dest').exists(): return 'silently wrong', f"{note}; but {work/'dest'} was left"
    return outcome, note

for _name, _entries in ESCAPES.items():
    case('archives', f"zip entry escaping its folder: {_name}", f"safe_extract(zip of {_entries!r}, dest)", '16',
         smoke=_name == 'a file through a link to ..')(lambda tmp, e=_entries: _extract(tmp, e))

@case('archives', 'zip entry named `a\\x00b.txt`', "safe_extract(zip with an entry 'a\\x00b.txt', dest)", smoke=True)
def _(tmp):
    from wisefast.archives import safe_extract
    z = tmp/'nul.zip'
    with zipfile.ZipFile(z, 'w') as f: f.writestr('aQb.txt', 'x'); f.writestr('ok.txt', 'y')
    z.write_bytes(z.read_bytes().replace(b'aQb.txt', b'a\0b.txt'))
    outcome, note, _ = called(lambda: safe_extract(z, tmp/'out'), 'control characters')
    if (tmp/'out'/'a').exists(): return 'silently wrong', "extracted as `a` (zipfile cuts the name at the NUL)"
    return outcome, note

@case('archives', 'corrupt entry', "safe_extract(zip with 50 bytes of one entry zeroed, dest)", '16')
def _(tmp):
    from wisefast.archives import safe_extract
    z = _zip(tmp/'c.zip', [('a.txt', 'a' * 1000), ('b.txt', os.urandom(3000).hex())])
    raw = bytearray(z.read_bytes()); i = raw.index(b'b.txt') + 205; raw[i:i+50] = bytes(50); z.write_bytes(bytes(raw))
    outcome, note, _ = called(lambda: safe_extract(z, tmp/'d'), 'corrupt')
    return ('silently wrong', f"{note}; {tmp/'d'} left") if (tmp/'d').exists() else (outcome, note)

@case('archives', 'not a zip', "safe_extract('notes.zip' (text), dest)", '16')
def _(tmp):
    from wisefast.archives import safe_extract
    (tmp/'n.zip').write_text('not a zip')
    return called(lambda: safe_extract(tmp/'n.zip', tmp/'d'), 'not a zip')[:2]

@case('archives', 'zip bomb (5 MB of zeros, ratio)', "safe_extract(zip of 5 MB of zeros, dest)", '16')
def _(tmp):
    from wisefast.archives import safe_extract
    z = _zip(tmp/'bomb.zip', [('zeros.bin', b'\0' * 5_000_000)])
    return called(lambda: safe_extract(z, tmp/'d'), 'max_ratio')[:2]

@case('archives', 'an entry twice', "safe_extract(zip holding 'a.txt' twice, dest)", '16')
def _(tmp):
    from wisefast.archives import safe_extract
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')                          # zipfile's 'Duplicate name'
        z = _zip(tmp/'twice.zip', [('a.txt', 'one'), ('a.txt', 'two')])
    return called(lambda: safe_extract(z, tmp/'d'), 'twice')[:2]

@case('archives', '__MACOSX and .DS_Store entries', "safe_extract(zip with __MACOSX/ and .DS_Store, dest)", '16')
def _(tmp):
    from wisefast.archives import safe_extract
    z = _zip(tmp/'mac.zip', [('a/x.txt', 'x'), ('__MACOSX/a/._x.txt', 'junk'), ('a/.DS_Store', 'junk')])
    outcome, note, d = called(lambda: safe_extract(z, tmp/'d'))
    if d is not None and ((d/'__MACOSX').exists() or (d/'a'/'.DS_Store').exists()): return 'silently wrong', 'junk extracted'
    return outcome, note or 'left out'

@case('archives', 'links kept inside the folder', "safe_extract(zip with 'lnk' -> 'a/b.txt', dest)", '16')
def _(tmp):
    from wisefast.archives import safe_extract
    z = _zip(tmp/'ok.zip', [('a/b.txt', 'hi'), ('lnk', 'a/b.txt', 'link'), ('a/up', '../a/b.txt', 'link')])
    outcome, note, d = called(lambda: safe_extract(z, tmp/'d'))
    if outcome == 'handled' and not ((d/'lnk').read_text() == 'hi' == (d/'a'/'up').read_text()): return 'silently wrong', 'links broken'
    return outcome, note or 'extracted, links kept'

@case('archives', "a killed extraction's temporary folder", "safe_extract(zip, dest) after one was killed (.dest.tmp-PID-xxxx left)", '16')
def _(tmp):
    from wisefast.archives import safe_extract
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True).stdout.strip()
    stale = tmp/f'.dest.tmp-{dead}-abcd1234'; (stale/'half').mkdir(parents=True)
    outcome, note, _ = called(lambda: safe_extract(_zip(tmp/'a.zip', [('f.txt', 'x')]), tmp/'dest'))
    return ('silently wrong', f"{stale.name} left") if stale.exists() else (outcome, note or 'removed')

# ------------------------------------------------------------------------------------------------------- folders
def _items(ds, *says, check=None) -> tuple:
    "(outcome, note) of `dataset_items(ds)`, made 'silently wrong' when `check(items)` names a wrong result"
    from wisefast.datasets import dataset_items
    outcome, note, its = called(lambda: dataset_items(ds), *says)
    wrong = check(its) if its is not None and check else None
    return ('silently wrong', f"{wrong}{f' ({note})' if note else ''}") if wrong else (outcome, note)

def _real(items) -> list: return [os.path.realpath(x) for x, _ in items]

@case('folders', 'a symlink loop in a class folder', "wise_dls('ds') with ds/0/loop -> ..", smoke=True)
def _(tmp):
    ds = images(tmp/'ds', 6); os.symlink('..', ds/'0'/'loop')
    return _items(ds, 'not followed', check=lambda its: len(its['train']) != 60 and f"{len(its['train'])} images for 60")

@case('folders', 'links to another class, outside, to itself', "wise_dls('ds') with ds/0/sibling -> ../1, ds/0/self -> ds/0", '26')
def _(tmp):
    ds, out = images(tmp/'ds', 6), images(tmp/'else', 2, [3])/'3'
    os.symlink('../1', ds/'0'/'sibling'); os.symlink(out, ds/'0'/'outside'); os.symlink(ds/'0', ds/'0'/'self')
    def wrong(its):
        labels = Counter(y for _, y in its['train'])
        return labels['0'] != 6 and f"class 0 has {labels['0']} images for 6"
    return _items(ds, '0/sibling', check=wrong)

@case('folders', 'a test image linked into the training folder', "wise_dls('ds') with ds/train/2/linked.png -> ds/test/2/x.png", '26')
def _(tmp):
    for s in ('train', 'test'): images(tmp/s, 3)
    t = sorted((tmp/'test'/'2').iterdir())[0]
    os.symlink(t, tmp/'train'/'2'/'linked.png'); os.link(t, tmp/'train'/'2'/'hard.png')
    def wrong(its):
        tr, te = set(_real(its['train'])), set(_real(its['test']))
        return bool(tr & te) and f"{len(tr & te)} file(s) in both splits"
    return _items(tmp, 'counted already', check=wrong)

@case('folders', 'a class whose images are all unreadable', "wise_dls('ds') with every file of ds/7 not an image")
def _(tmp):
    from wisefast.data import wise_dls
    ds = images(tmp/'ds', 4)
    for f in (ds/'7').iterdir(): f.write_bytes(b'not an image')
    return called(lambda: wise_dls(ds, size=32, bs=8, num_workers=0, augment=False), 'class(es) 7 lost all their images')[:2]

@case('folders', "a class folder named 'train'", "wise_dls('ds') with classes cat, dog, train", '16')
def _(tmp):
    for c, name in enumerate(('cat', 'dog', 'train')): (images(tmp/'ds', 3, [c])/str(c)).rename(tmp/'ds'/name)
    return _items(tmp/'ds', 'train taken as class', check=lambda its: len({y for _, y in its['train']}) != 3 and 'classes lost')

@case('folders', 'nested class folders, a stray file, an empty class', "wise_dls('ds') with ds/cat/2019/*.png, ds/stray.png, ds/bird/", '16')
def _(tmp):
    for c, name in enumerate(('cat', 'dog')): (tmp/'ds'/name).mkdir(parents=True); (images(tmp/'x', 3, [c])/str(c)).rename(tmp/'ds'/name/'2019')
    shutil.copy(next((tmp/'ds'/'cat'/'2019').iterdir()), tmp/'ds'/'stray.png'); (tmp/'ds'/'bird').mkdir()
    return _items(tmp/'ds', 'stray.png', check=lambda its: len(its['train']) != 6 and f"{len(its['train'])} images for 6")

@case('folders', 'one class only', "wise_dls('ds') with ds/cat/ only", '16')
def _(tmp):
    from wisefast.data import wise_dls
    ds = images(tmp/'ds', 4, [0])
    return called(lambda: wise_dls(ds, size=32, bs=8, num_workers=0), 'one class only')[:2]

@case('folders', 'no image at all', "wise_dls('ds') with ds/notes.txt only", '16')
def _(tmp):
    from wisefast.data import wise_dls
    (tmp/'ds').mkdir(); (tmp/'ds'/'notes.txt').write_text('x')
    return called(lambda: wise_dls(tmp/'ds', size=32, bs=8, num_workers=0), 'no readable training images')[:2]

@case('folders', 'a class with a single image', "wise_dls('ds') with ds/c/ holding one image", '16')
def _(tmp):
    from wisefast.data import wise_dls
    ds = images(tmp/'ds', 5, [0, 1]); images(tmp/'x', 1, [2]); shutil.copytree(tmp/'x'/'2', ds/'2')
    outcome, note, dls = called(lambda: wise_dls(ds, size=32, bs=8, num_workers=0, valid_pct=0.3), 'single image')
    if dls is not None and '2' not in {y for _, y in dls.train_ds.items}: return 'silently wrong', 'class 2 lost'
    return outcome, note

@case('folders', 'images broken after a valid header, random bytes, an empty file', "wise_dls('ds') with such files in ds/a", '16')
def _(tmp):
    import numpy as np, zlib
    from PIL import Image
    from wisefast.data import wise_dls
    ds = images(tmp/'ds', 6, [0, 1])
    buf = io.BytesIO(); Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, 'png'); raw = buf.getvalue()
    i = raw.index(b'IDAT') - 4; n = struct.unpack('>I', raw[i:i+4])[0]; junk = os.urandom(n)
    (ds/'0'/'broken.png').write_bytes(raw[:i+8] + junk + struct.pack('>I', zlib.crc32(b'IDAT' + junk)) + raw[i+12+n:])
    (ds/'0'/'noise.png').write_bytes(os.urandom(500)); (ds/'0'/'empty.png').write_bytes(b'')
    outcome, note, dls = called(lambda: wise_dls(ds, size=32, bs=4, num_workers=0, augment=False), 'unreadable')
    if dls is not None and sum(dls.skipped.values()) != 3: return 'silently wrong', f"{sum(dls.skipped.values())} of 3 skipped"
    return outcome, note

# ------------------------------------------------------------------------------------------------------ downloads
def server() -> str:
    "The base URL of a local `HostileServer` (one per trial) serving the Fashion-MNIST sample's files"
    def start():
        from wisefast.datasets import FASHION_MNIST_SIZES, sample_path
        from wisefast.test_utils import HostileServer
        srv = HostileServer({f: (sample_path('fashion_mnist')/f).read_bytes() for f in FASHION_MNIST_SIZES}, wait=5)
        SERVERS.append(srv)
        return srv.url
    return shared('server', start)

SERVERS = []
FAST = dict(timeout=1, retries=0, show_progress=False)           # the guards' thresholds, scaled down to seconds

def _download(tmp:Path, url:str, *says, **kw) -> tuple:
    from wisefast.download import download_url
    outcome, note, _ = called(lambda: download_url(server() + url, tmp/'d'/'file.bin', **{**FAST, **kw}), *says)
    left = list((tmp/'d').iterdir()) if (tmp/'d').exists() else []
    return ('silently wrong', f"{note}; left behind: {left}") if outcome != 'handled' and left else (outcome, note)

for _url, _name, _says, _kw, _issue in [
        ('/stall/blob', 'a server that stalls after 1,000 bytes', ('no data for 1 s',), {}, '26'),
        ('/silent/blob', 'a server that accepts and never answers', ('no data for 1 s',), {}, '26'),
        ('/drip/blob', 'a server dripping a byte every 0.2 s', ('too slow',), dict(min_rate=100), '26'),
        ('/short/blob', 'a server closing after half the announced bytes', ('closed after',), {}, '26'),
        ('/long/blob', 'a server announcing half of what it sends (checksum known)', ('not the expected file',),
         dict(sha256='0' * 64), '26'),
        ('/nolength/blob', 'no length announced, more than max_size sent', ('more than max_size',), dict(max_size=150_000), '26'),
        ('/ok/blob', 'a length above max_size announced', ('more than max_size',), dict(max_size=150_000), '26'),
        ('/wrong/blob', 'other bytes than the checksum says', ('not the expected file',), dict(sha256='0' * 64), '26'),
        ('/404/blob', 'HTTP 404', ('HTTP 404',), {}, '26'),
        ('/503/blob', 'HTTP 503, retried', ('HTTP 503', '2 tries'), dict(retries=1), '26')]:
    case('downloads', _name, f"download_url(URL{_url}, dest, timeout=1{''.join(f', {k}={v!r}' for k, v in _kw.items())})",
         _issue, smoke=_url == '/stall/blob')(lambda tmp, u=_url, s=_says, k=_kw: _download(tmp, u, *s, **k))

@case('downloads', 'connection refused', "download_url('http://127.0.0.1:9/blob', dest)")
def _(tmp):
    from wisefast.download import download_url
    return called(lambda: download_url('http://127.0.0.1:9/blob', tmp/'f', **FAST), 'refused')[:2]

def _fmnist(tmp:Path, case:str, *says, **kw) -> tuple:
    import tracemalloc
    from wisefast.datasets import download_fashion_mnist
    tracemalloc.start()
    try: outcome, note, _ = called(lambda: download_fashion_mnist(tmp/'fm', f'{server()}/{case}/', **{**FAST, **kw}), *says)
    finally: peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    if peak > 200e6: return 'crash', f"{peak/1e6:.0f} MB of memory before: {note}"
    return ('silently wrong', f"{note}; {tmp/'fm'} left") if outcome != 'handled' and (tmp/'fm').exists() else (outcome, note)

@case('downloads', 'Fashion-MNIST: a truncated gzip (no checksum)', "download_fashion_mnist(dest, URL, sha256={})")
def _(tmp): return _fmnist(tmp, 'truncgz', 'train-images-idx3-ubyte.gz', 'truncated', sha256={})

@case('downloads', 'Fashion-MNIST: a gzip bomb (320 MB of zeros, no checksum)', "download_fashion_mnist(dest, URL, sha256={})")
def _(tmp): return _fmnist(tmp, 'bomb', 'more data than its shape', sha256={})

@case('downloads', 'Fashion-MNIST: other files than the official ones', "download_fashion_mnist(dest, URL)", smoke=True)
def _(tmp): return _fmnist(tmp, 'ok', 'not the expected file')

def _archive(tmp:Path, layout:str, *says, cut=None) -> tuple:
    from wisefast.datasets import download_dataset
    from wisefast.test_utils import write_layout, zip_folder
    src = write_layout(layout, tmp/'src'/'x')
    if cut: shutil.rmtree(src/cut)
    z = zip_folder(tmp/'src', tmp/'a.zip')
    (tmp/'data').mkdir()
    outcome, note, _ = called(lambda: download_dataset('intel', tmp/'data'/'intel', archive=z), *says)
    if '.intel' in note and 'tmp' in note: return 'unclear message', note
    return ('silently wrong', f"{note}; left: {list((tmp/'data').iterdir())}") if list((tmp/'data').iterdir()) else (outcome, note)

@case('downloads', "an archive of another dataset's layout", "download_dataset('intel', dest, archive='mit_indoor.zip')")
def _(tmp): return _archive(tmp, 'mit_indoor', 'does not hold the intel dataset')

@case('downloads', 'an archive with half the layout', "download_dataset('intel', dest, archive='half.zip')")
def _(tmp): return _archive(tmp, 'intel', 'no seg_test folder', cut='seg_test')

# --------------------------------------------------------------------------------------------------- command line
def _cmd(*argv, says=()):
    "A case running `wisefast ARGV` (`{images}`, `{run}`, `{tmp}` filled in), judged on what it printed"
    def run(tmp):
        fill = lambda a: str(a).format(images=folder(), run=trained_run() if '{run}' in str(a) else '', tmp=tmp)
        return judged(cli(*map(fill, argv)), *says)
    return run

_TINY = ' '.join(train_argv('{images}', 'run')[1:])
for _name, _argv, _says, _issue in [
        ('--size 100000', train_argv('{images}', '{tmp}/run', '--size', '100000'), ('each from 1 to 4096',), '26'),
        ('--n-per-class 1 (no validation image)', train_argv('{images}', '{tmp}/run', '--n-per-class', '1'),
         ('no validation images', '--test-as-valid'), '26'),
        ('gradcam --target 99 (10 classes)', ['gradcam', '{run}', '{images}/3', '--target', '99', '--out', '{tmp}/cam.png'],
         ('target class 99', '10 classes'), '26'),
        ('--head nope', ['train', '--head', 'nope'], ("invalid choice: 'nope'",), '16'),
        ('--arch resnett50', ['train', '--arch', 'resnett50'], ("Unknown architecture 'resnett50'",), '16'),
        ('--data of a folder that does not exist', ['train', '--data', '/no/such/folder'], ('is neither an image folder',), '16'),
        ('--size 0', ['train', '--size', '0'], ('at least 1',), '16'),
        ('--epochs 0', ['train', '--epochs', '0'], ('at least 1',), '16'),
        ('--bs 0', ['train', '--bs', '0'], ('at least 1',), '16'),
        ('--every 0', ['train', '--every', '0'], ('at least 1',), '16'),
        ('--lr nan', ['train', '--lr', 'nan'], ('finite number above 0',), '16'),
        ('--n-per-class 0,1', ['train', '--n-per-class', '0,1'], ('each at least 1',), '16'),
        ('--resume and --overwrite', train_argv('{images}', '{tmp}/run', '--resume', '--overwrite'), ('pass one of them',), '16'),
        ('predict with a model that does not exist', ['predict', '{tmp}/no/export.pkl', '{tmp}/no.png'], ('no such model file',), '16'),
        ('compare --heads gap,nope', ['compare', 'fashion_mnist', '--heads', 'gap,nope'], ("Unknown head 'nope'",), '16'),
        ('compare --heads gap,wise:kaiming', ['compare', 'mosaic_corner', '--heads', 'gap,wise:kaiming'], (":default",), '16'),
        ('compare --schedule cosine', ['compare', 'mosaic_where', '--schedule', 'cosine'], ("invalid choice: 'cosine'",), '16'),
        ('gradcam without a model', ['gradcam', '{tmp}/img.png'], ('no model given',), '16'),
        ('an unknown command', ['fly'], ('unknown command',), '16')]:
    case('command line', _name, 'wisefast ' + ' '.join(map(str, _argv)).replace('{tmp}/', '').replace(_TINY, '...'), _issue,
         smoke=_name == '--head nope')(_cmd(*_argv, says=_says))

@case('command line', '--out naming a file (train, compare)', "wisefast train ... --out notes.txt; wisefast compare ... --out notes.txt")
def _(tmp):
    f = tmp/'notes.txt'; f.write_text('keep me')
    for argv in (train_argv(folder(), f), compare_argv(folder(), f)):
        r = cli(*argv)
        outcome, note = judged(r, 'is a file')
        if outcome != 'clear error' or 'train_loss' in r.out: return ('crash' if outcome == 'crash' else 'unclear message'), note
    return ('data lost', 'notes.txt replaced') if f.read_text() != 'keep me' else (outcome, note)

@case('command line', '--out on a read-only file system (train, compare)', "wisefast train ... --out /mnt/ro/run")
def _(tmp):
    ro = tmpfs(tmp/'ro', '1m', ro=True)
    for argv in (train_argv(folder(), ro/'run'), compare_argv(folder(), ro/'cmp')):
        outcome, note = judged(cli(*argv), 'not writable')
        if outcome != 'clear error': break
    return outcome, note

def _weights(tmp:Path, what:str) -> Path:
    import timm, torch
    f = tmp/f'{what}.pth'
    if what == 'garbage': f.write_bytes(os.urandom(1000))
    else: torch.save(timm.create_model(what, num_classes=0).state_dict(), f)
    return f

for _what, _says in [('garbage', ('garbage.pth', 'test_resnet')), ('resnet18', ('resnet18.pth', 'test_resnet')),
                     ('efficientnet_b0', ('efficientnet_b0.pth', 'test_resnet'))]:
    @case('command line', f"--pretrained {_what}.pth{' (not a weights file)' if _what == 'garbage' else f' ({_what} weights for test_resnet)'}",
          f"wisefast train --arch test_resnet ... --pretrained {_what}.pth", '26')
    def _(tmp, what=_what, says=_says):
        r = cli(*train_argv(folder(), tmp/'run', '--pretrained', _weights(tmp, what)))
        if r.code == 0: return 'silently wrong', ("trained from scratch: no tensor of the file has a name of the model's "
                                                  "(timm logs 'Unexpected keys (...)' and goes on)")
        return judged(r, *says)

@case('command line', '--pretrained alone, offline, nothing cached', "HF_HUB_OFFLINE=1 wisefast train ... --pretrained", smoke=True)
def _(tmp):
    import huggingface_hub.constants as hf
    with mock.patch.object(hf, 'HF_HUB_CACHE', str(tmp/'hf')), mock.patch.object(hf, 'HF_HUB_OFFLINE', True):
        return judged(cli(*train_argv(folder(), tmp/'run', '--pretrained')), "'test_resnet'", 'Offline?')

@case('command line', '--pretrained FILE with the default (Caffe) preprocessing', "wisefast train ... --pretrained test_resnet.pth")
def _(tmp):
    r = cli(*train_argv(folder(), tmp/'run', '--pretrained', _weights(tmp, 'test_resnet')))
    if r.code: return judged(r)
    caffe = [w for w in _split(r.err)[1] if 'Caffe' in w]
    if not caffe: return 'silently wrong', 'no word of the preprocessing the weights expect'
    return ('warned' if '--preprocess test_resnet' in caffe[0] else 'unclear message'), caffe[0]

@case('command line', 'gradcam and predict on a folder with unreadable files', "wisefast gradcam RUN imgs/ (imgs/broken.png, imgs/empty.png)")
def _(tmp):
    imgs = tmp/'imgs'; imgs.mkdir()
    shutil.copy(next((folder()/'3').iterdir()), imgs/'good.png')
    (imgs/'broken.png').write_bytes(os.urandom(300)); (imgs/'empty.png').write_bytes(b'')
    p, g = cli('predict', trained_run(), imgs), cli('gradcam', trained_run(), imgs, '--out', tmp/'cam.png')
    if g.code == 0: return 'silently wrong', f"exit 0 and a map of the unreadable files, where predict exits {p.code}"
    outcome, note = judged(g, 'not readable', 'broken.png')
    return (outcome, note) if g.code == p.code == 1 else ('unclear message', f"exit {g.code}, predict {p.code}: {note}")

@case('command line', 'a run already in --out', "wisefast train ... --out RUN (RUN holds a run)", '16')
def _(tmp):
    shutil.copytree(trained_run(), tmp/'run'); before = (tmp/'run'/'history.csv').read_bytes()
    outcome, note = judged(cli(*train_argv(folder(), tmp/'run')), 'already holds a run', '--resume', '--overwrite')
    return ('data lost', 'the run replaced') if (tmp/'run'/'history.csv').read_bytes() != before else (outcome, note)

@case('command line', '--resume on other classes', "wisefast train --data other_classes/ --out RUN --resume", '16')
def _(tmp):
    shutil.copytree(trained_run(), tmp/'run')
    other = images(tmp/'other', 10, range(10)); (other/'9').rename(other/'z')
    return judged(cli(*train_argv(other, tmp/'run', '--resume', '--epochs', '2')), 'trained on other classes')

@case('command line', '--resume with another head', "wisefast train ... --out RUN --resume --head gap", '16')
def _(tmp):
    shutil.copytree(trained_run(), tmp/'run')
    return judged(cli(*train_argv(folder(), tmp/'run', '--resume', '--epochs', '2', '--head', 'gap')), 'weights of another model')

@case('command line', '--resume from a damaged last.pth', "wisefast train ... --out RUN --resume (RUN/models/last.pth: 10 zero bytes)", '16')
def _(tmp):
    shutil.copytree(trained_run(), tmp/'run'); (tmp/'run'/'models'/'last.pth').write_bytes(bytes(10))
    return judged(cli(*train_argv(folder(), tmp/'run', '--resume', '--epochs', '2')), 'is damaged')

@case('command line', '--bs larger than the training set', "wisefast train ... --bs 500", '16')
def _(tmp): return judged(cli(*train_argv(folder(), tmp/'run', '--bs', '500')), '--bs 500 is larger than')

@case('command line', '--fp16 without a GPU', "wisefast train ... --fp16", '16')
def _(tmp):
    import torch
    if torch.cuda.is_available(): raise NotRun("a CUDA GPU is here")
    return judged(cli(*train_argv(folder(), tmp/'run', '--fp16')), '--fp16 needs a CUDA GPU')

@case('command line', 'a learning rate that diverges', "wisefast train ... --lr 1e30", '16')
def _(tmp):
    r = cli(*train_argv(folder(), tmp/'run', '--lr', '1e30'))
    outcome, note = judged(r, 'training diverged', '--lr')
    return ('silently wrong', 'exported a diverged model') if (tmp/'run'/'export.pkl').exists() else (outcome, note)

@case('command line', 'predict on files that are not images', "wisefast predict RUN good.png empty.jpg noise.jpg notes.txt", '16')
def _(tmp):
    bad = [tmp/'empty.jpg', tmp/'noise.jpg', tmp/'notes.txt']
    bad[0].write_bytes(b''); bad[1].write_bytes(os.urandom(2000)); bad[2].write_text('hi')
    r = cli('predict', trained_run(), next((folder()/'3').iterdir()), *bad)
    if [l.split('\t')[1] for l in r.out.splitlines()][1:] != ['unreadable'] * 3: return 'silently wrong', 'a class for a file that is no image'
    return judged(r, '3 of 4 file(s) are not readable')

# --------------------------------------------------------------------------------------------------- crash safety
@case('crash safety', 'two runs into one --out at once', "wisefast train ... --out X & wisefast train ... --out X --overwrite")
def _(tmp):
    out, log = tmp/'run', (tmp/'a.log').open('w')
    a = subprocess.Popen([WISEFAST, *map(str, train_argv(folder(), out, '--epochs', '500'))], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(1200):
            if a.poll() is not None or ((out/'models'/'last.pth').exists() and history(out)): break
            time.sleep(0.25)
        if a.poll() is not None: return 'crash', f"the first run ended: {(tmp/'a.log').read_text()[-300:]}"
        b = cli(*train_argv(folder(), out, '--overwrite'))
        if b.code == 0: return 'data lost', "both exit 0: the first run's history, checkpoints and export replaced by the second's"
        SHARED_KILL['run'] = (a, out)
        return judged(b, str(out), f'PID {a.pid}')
    finally:
        log.close()
        if 'run' not in SHARED_KILL and a.poll() is None: a.kill(); a.wait()

SHARED_KILL = {}

@case('crash safety', 'kill -9 the run holding --out, then run again', "kill -9 PID; wisefast train ... --out X --resume")
def _(tmp):
    if 'run' not in SHARED_KILL: raise NotRun("the case before it left no running run to kill")
    a, out = SHARED_KILL.pop('run')
    a.send_signal(signal.SIGKILL); a.wait()
    done = len(history(out))
    outcome, note = judged(cli(*train_argv(folder(), out, '--resume', '--epochs', done + 1)))
    if outcome == 'handled' and [int(l.split(',')[0]) for l in history(out)] != list(range(done + 1)): return 'silently wrong', 'history broken'
    return outcome, note or f"taken over: epochs {done} to {done + 1} trained"

@case('crash safety', 'a resumed run against the uninterrupted one', "Ctrl-C in epoch 2 of `wisefast train ... --epochs 3`, then --resume")
def _(tmp):
    import pandas as pd
    from fastai.learner import Learner
    full = cli(*train_argv(folder(), tmp/'full', '--epochs', 3))
    step = Learner._do_one_batch
    def ctrl_c(self):
        if self.training and self.epoch == 1 and self.iter == 2: raise KeyboardInterrupt
        step(self)
    with mock.patch.object(Learner, '_do_one_batch', ctrl_c): cut = cli(*train_argv(folder(), tmp/'cut', '--epochs', 3))
    if cut.code != 130: return judged(cut)
    res = cli(*train_argv(folder(), tmp/'cut', '--epochs', 3, '--resume'))
    if res.code: return judged(res)
    h1, h2 = (pd.read_csv(tmp/d/'history.csv', dtype=str).drop(columns='time') for d in ('full', 'cut'))
    table = lambda o: [r for r in o.split('Final metrics\n')[1].split('\n\n')[0].splitlines() if 'training time' not in r]
    if not h1.equals(h2): return 'silently wrong', f"history differs in {', '.join(c for c in h1 if not h1[c].equals(h2[c]))}"
    if table(full.out) != table(res.out): return 'silently wrong', 'the final table differs'
    return 'handled', 'history.csv and the final table equal the uninterrupted run\'s (time aside)'

def _killed_run(tmp:Path) -> tuple:
    out = tmp/'run'
    from wisefast.test_utils import killed_write_cmd
    subprocess.run(killed_write_cmd(*train_argv(folder(), out, '--epochs', 2)),
                   capture_output=True, timeout=600, cwd=tmp)
    return out, [p for p in (out/'models').iterdir() if p.name not in ('best.pth', 'last.pth')]

@case('crash safety', "a killed checkpoint write's temporary file, then --resume",
      "kill -9 while writing models/best.pth; wisefast train ... --resume")
def _(tmp):
    out, left = _killed_run(tmp)
    if not left: raise NotRun("the kill left nothing to clean up")
    outcome, note = judged(cli(*train_argv(folder(), out, '--resume', '--epochs', 2)))
    if any(p.exists() for p in left): return 'silently wrong', f"{left[0].name} ({left[0].stat().st_size:,} bytes) left for ever"
    return outcome, note or f"{left[0].name} removed"

@case('crash safety', "a killed checkpoint write's temporary file, then scratch_224(resume=True)",
      "kill -9 while writing; scratch_224(..., path=RUN, resume=True)")
def _(tmp):
    from wisefast.recipes import scratch_224
    out, left = _killed_run(tmp)
    if not left: raise NotRun("the kill left nothing to clean up")
    outcome, note, _ = called(lambda: scratch_224(folder(), arch='test_resnet', size=64, bs=16, epochs=2, path=out, resume=True,
                                                  seed=42, num_workers=0, dls_kwargs=dict(augment=False)))
    if any(p.exists() for p in left): return 'silently wrong', f"{left[0].name} ({left[0].stat().st_size:,} bytes) left for ever"
    return outcome, note or f"{left[0].name} removed"

def _full_disk(tmp:Path, at:str) -> tuple:
    "Resume a run while torch reports a full disk ('unexpected pos') at `at`: what the user sees, and what it would replace"
    import torch
    from fastai.learner import Learner
    shutil.copytree(trained_run(), tmp/'run')
    old = {f: (tmp/'run'/f).read_bytes() for f in ('export.pkl', 'models/last.pth')}
    save = torch.save
    def full(obj, f, *args, **kwargs):
        if at == 'checkpoint' or isinstance(obj, Learner):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4419136 vs 4419024")
        return save(obj, f, *args, **kwargs)
    with mock.patch.object(torch, 'save', full), mock.patch.object(shutil, 'disk_usage', lambda p: types.SimpleNamespace(free=0)):
        outcome, note = judged(cli(*train_argv(folder(), tmp/'run', '--resume', '--epochs', 2)), 'No space left on device writing')
    kept = ['export.pkl'] + (['models/last.pth'] if at == 'checkpoint' else [])
    if any((tmp/'run'/f).read_bytes() != old[f] for f in kept): return 'data lost', f"{kept} replaced by a half-written file"
    return outcome, note

@case('crash safety', 'disk full while writing a checkpoint', "wisefast train ... --resume (torch.save: 'unexpected pos', no space)",
      smoke=True)
def _(tmp): return _full_disk(tmp, 'checkpoint')

@case('crash safety', 'disk full while exporting', "wisefast train ... --resume (Learner.export: 'unexpected pos', no space)")
def _(tmp): return _full_disk(tmp, 'export')

@case('crash safety', 'disk full (a 256 KB tmpfs as --out)', "wisefast train ... --out /mnt/small/run")
def _(tmp):
    mnt = tmpfs(tmp/'small', '256k')
    outcome, note = judged(cli(*train_argv(folder(), mnt/'run')), 'No space left on device writing')
    return ('silently wrong', f"{note}; temporaries left") if temporaries(mnt) else (outcome, note)

@case('crash safety', 'file modes of a run (umask 022)', "umask 022; wisefast train ...")
def _(tmp):
    r = subprocess.run([WISEFAST, *map(str, train_argv(folder(), tmp/'run'))], umask=0o022, capture_output=True, text=True, timeout=600)
    if r.returncode: return judged(Ran(r.returncode, r.stdout, r.stderr))
    modes = {str(p.relative_to(tmp/'run')): stat.S_IMODE(p.stat().st_mode) for p in (tmp/'run').rglob('*') if not p.name.startswith('.')}
    wrong = {f: oct(m) for f, m in modes.items() if m != (0o755 if (tmp/'run'/f).is_dir() else 0o644)}
    return ('silently wrong', f"modes {wrong}") if wrong else ('handled', f"{len(modes)} files and folders 0644/0755")

@case('crash safety', 'file modes of a Hub folder (umask 027)', "umask 027; save_pretrained(learn, 'hub')")
def _(tmp):
    from wisefast.hub import save_pretrained
    from wisefast.load import load_wise_learner
    learn = called(lambda: load_wise_learner(trained_run()))[2]
    old = os.umask(0o027)
    try: outcome, note, d = called(lambda: save_pretrained(learn, tmp/'hub'))
    finally: os.umask(old)
    if d is None: return outcome, note
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [d, *d.iterdir()]}
    wrong = {f: oct(m) for f, m in modes.items() if m != (0o750 if (d/f).is_dir() or f == d.name else 0o640)}
    return ('silently wrong', f"modes {wrong}") if wrong else ('handled', 'folder 0750, files 0640')

@case('crash safety', 'export killed mid-write', "export_learner(learn) interrupted while writing", '16')
def _(tmp):
    from fastai.learner import Learner
    from wisefast.export import export_learner
    from wisefast.load import load_exported
    shutil.copytree(trained_run(), tmp/'run'); good = (tmp/'run'/'export.pkl').read_bytes()
    learn = called(lambda: load_exported(tmp/'run'))[2]
    def killed(self, fname, **kw): Path(fname).write_bytes(b'half'); raise KeyboardInterrupt
    with mock.patch.object(Learner, 'export', killed):
        try: export_learner(learn)
        except KeyboardInterrupt: pass
    if (tmp/'run'/'export.pkl').read_bytes() != good: return 'data lost', 'export.pkl half-written'
    return ('silently wrong', 'a temporary file left') if temporaries(tmp/'run') else ('handled', 'the old export.pkl intact')

# ---------------------------------------------------------------------------------------------------- model files
def _negative_kernel(tmp:Path):
    "A learner whose non-negative kernel was given negative values, saved with `learn.save` and `save_weights`"
    import torch
    from wisefast.data import wise_dls
    from wisefast.learner import wise_learner
    from wisefast.heads import nonneg_params
    from wisefast.export import save_weights
    dls = wise_dls(folder(), size=64, bs=8, num_workers=0, augment=False)
    learn = wise_learner(dls, 'test_resnet', pretrained=False, head='wise', path=tmp)
    k, = nonneg_params(learn.model)
    with torch.no_grad(): k.copy_(torch.randn_like(k))
    learn.save('negative')
    return dls, save_weights(learn, tmp/'negative.safetensors')

def _kernel_after(fn) -> tuple:
    from wisefast.heads import nonneg_params
    outcome, note, m = called(fn, 'set to 0')
    if m is not None and any((p < 0).any() for p in nonneg_params(m)): return 'silently wrong', 'negative kernel kept, predicting with it'
    return outcome, note

@case('model files', 'negative weights in a non-negative kernel, learn.load', "learn.load('negative') (a 'wise' head)", smoke=True)
def _(tmp):
    from wisefast.learner import wise_learner
    dls, _ = _negative_kernel(tmp)
    learn = wise_learner(dls, 'test_resnet', pretrained=False, head='wise', path=tmp)
    return _kernel_after(lambda: learn.load('negative', with_opt=False).model)

@case('model files', 'negative weights in a non-negative kernel, load_wise_model', "load_wise_model('negative.safetensors')")
def _(tmp):
    from wisefast.load import load_wise_model
    _, f = _negative_kernel(tmp)
    return _kernel_after(lambda: load_wise_model(f))

def _edited(tmp:Path, **changes) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    src = trained_run()/'model.safetensors'
    with safe_open(str(src), 'pt') as f: meta = f.metadata()
    cfg = {**json.loads(meta['wisefast_config']), **changes}
    save_file(load_file(str(src)), str(tmp/'m.safetensors'), metadata={**meta, 'wisefast_config': json.dumps(cfg)})
    return tmp/'m.safetensors'

class _Payload:
    def __init__(self, f): self.f = f
    def __reduce__(self): return (os.system, (f'touch {self.f}',))

def _written(f:Path, data:bytes) -> Path: f.write_bytes(data); return f

def _model_file(make, *says):
    def run(tmp):
        import torch
        f = make(tmp, torch)
        outcome, note = judged(cli('predict', f, next((folder()/'3').iterdir())), *says)
        return ('silently wrong', 'the pickled payload ran') if (tmp/'pwned').exists() else (outcome, note)
    return run

for _name, _make, _says in [
        ('an empty export.pkl', lambda tmp, torch: _written(tmp/'export.pkl', b''), ('not a readable fastai export',)),
        ('random bytes as .safetensors', lambda tmp, torch: _written(tmp/'m.safetensors', os.urandom(100)), ('not a safetensors file',)),
        ('a .pth holding a pickled payload',
         lambda tmp, torch: torch.save({'model': {}, 'p': _Payload(tmp/'pwned')}, tmp/'e.pth') or tmp/'e.pth', ()),
        ('an unknown field in the header', lambda tmp, torch: _edited(tmp, code='import os'), ('unknown field',)),
        ("n_out='2' in the header", lambda tmp, torch: _edited(tmp, n_out='2'), ("n_out='2'",)),
        ('size=[32, 32, 3] in the header', lambda tmp, torch: _edited(tmp, size=[32, 32, 3]), ('size=[32, 32, 3]',)),
        ('timm_kwargs naming another file', lambda tmp, torch: _edited(tmp, timm_kwargs=dict(pretrained_cfg_overlay=dict(file='x'))),
         ('timm_kwargs',))]:
    case('model files', _name, f"wisefast predict FILE img.png ({_name})", '16')(_model_file(_make, *_says))

# ------------------------------------------------------------------------------------------------------------ API
def _dls(size=32):
    from wisefast.data import wise_dls
    return wise_dls(folder(), size=size, bs=8, num_workers=0, augment=False)

def _learner(**kw):
    from wisefast.learner import wise_learner
    return wise_learner(_dls(), 'test_resnet', **{'pretrained': False, **kw})

for _call, _fn, _says, _issue in [
        ('wise_learner(dls, arch, n_out=0)', lambda: _learner(n_out=0), ('n_out=0',), '26'),
        ('wise_learner(dls, arch, n_out=-1)', lambda: _learner(n_out=-1), ('n_out=-1',), '26'),
        ('wise_learner(rgb_dls, arch, n_in=1)', lambda: _learner(n_in=1), ('n_in=1', '3-channel'), '26'),
        ("wise_dls('ds', size=0)", lambda: _dls(size=0), ('size=0',), '26'),
        ('wise_dblock(size=0)', lambda: __import__('wisefast.data', fromlist=['x']).wise_dblock(size=0), ('size=0',), '26'),
        ("wise_learner(dls, arch, pretrained='garbage.pth')", lambda: _learner(pretrained=ROOT/'garbage.pth'), ('garbage.pth',), '26'),
        ("wise_learner(dls, 'resnet18', weights='DEFAULT')", lambda: _learner(weights='DEFAULT'), ('pretrained=True',), '16'),
        ("wise_learner(dls, arch, lin_ftrs=[64])", lambda: _learner(lin_ftrs=[64]), ("head='fastai'",), '16'),
        ("create_wise_model('inception_v3', 10, size=64, head='gap')",
         lambda: __import__('wisefast.models', fromlist=['x']).create_wise_model('inception_v3', 10, size=64, head='gap'),
         ('smallest size that works is 75 px',), '16')]:
    case('API', _call, _call, _issue, smoke=_call.endswith('n_out=0)'))(lambda tmp, f=_fn, s=_says: called(f, *s)[:2])

@case('API', 'wise_learner(dls, arch) offline, nothing cached', "wise_learner(dls, 'test_resnet')  # pretrained=True")
def _(tmp):
    import huggingface_hub.constants as hf
    with mock.patch.object(hf, 'HF_HUB_CACHE', str(tmp/'hf')), mock.patch.object(hf, 'HF_HUB_OFFLINE', True):
        return called(lambda: _learner(pretrained=True), 'ConnectionError', 'pretrained=False')[:2]

def _fit(learn):
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)

for _what in ('to_bf16', 'to_fp16'):
    @case('API', f"learn.{_what}() on a CPU", f"wise_learner(dls, arch).{_what}().fit(1)")
    def _(tmp, what=_what):
        import torch
        if torch.cuda.is_available(): raise NotRun("a CUDA GPU is here")
        learn = getattr(_learner(head='gap'), what)()
        outcome, note, _ = called(lambda: _fit(learn), f'Remove {what}()')
        return (outcome, note) if outcome != 'warned' or ('to_fp16' in note) == (what == 'to_fp16') else ('unclear message', note)

@case('API', 'gradcam(model, images, targets=99) on a 10-class model', "compare_cams([run], images, targets=99)")
def _(tmp):
    from wisefast.interpret import compare_cams
    return called(lambda: compare_cams([trained_run()], [next((folder()/'3').iterdir())], targets=99), 'out of range', '10 classes')[:2]

# ------------------------------------------------------------------------------------------------------------ main
ROOT = None

def run(cases:list, root:Path) -> list:
    "Rows (group, case, issue, call, outcome, note) of `cases`, each in its own folder under `root`"
    global ROOT
    ROOT, rows = root, []
    (root/'garbage.pth').write_bytes(os.urandom(1000))
    try:
        for i, c in enumerate(cases):
            tmp = root/f'case{i:03d}'; tmp.mkdir()
            t0 = time.time()
            try: outcome, note = c.fn(tmp)
            except NotRun as e: outcome, note = 'not run', str(e)
            except Exception as e: outcome, note = 'crash', f"the trial itself failed: {type(e).__name__}: {e}"
            note = ' '.join(str(note).replace(f'{root}/', '').split())
            rows.append(dict(group=c.group, case=c.name, issue=c.issue, call=c.call, outcome=outcome, note=note,
                             seconds=round(time.time() - t0, 1)))
            print(f"[{c.group}] {c.name}: {outcome} ({rows[-1]['seconds']} s) {note[:150]}", flush=True)
    finally:
        for d in MOUNTS: subprocess.run(['umount', '-l', str(d)], capture_output=True)
        for a, _ in SHARED_KILL.values(): a.kill(); a.wait()
        for s in SERVERS: s.close()
        MOUNTS.clear(); SHARED_KILL.clear(); SERVERS.clear(); _SHARED.clear()
    return rows

def counts(df):
    "Cases per group and outcome, and all together"
    import pandas as pd
    t = pd.crosstab(df.group, df.outcome).reindex(index=list(GROUPS), columns=list(OUTCOMES), fill_value=0)
    t.loc['all'] = t.sum()
    t.insert(0, 'cases', t.sum(axis=1))
    return t.reset_index().rename(columns={'index': 'group'})

def markdown(df, cmd:str, minutes:float) -> str:
    cell = lambda s: str(s).replace('|', '\\|')
    cases = df.assign(call=df.call.map(lambda c: f"`{cell(c)}`"), note=df.note.map(lambda n: cell(n[:300]))).drop(columns='seconds')
    about = __doc__.split('\n\n')[0] + '\n\n' + __doc__[__doc__.index('Every case runs'):].strip()
    new = df[df.issue == '26']
    return (f"# Reliability trial\n\n{about}\n\nReproduce: `{cmd}` ({len(df)} cases, {minutes:.0f} min on a 2-core CPU). "
            f"Issue 26's own cases: {len(new)}, of which {(new.outcome.isin(['clear error', 'warned', 'handled'])).sum()} "
            f"clear, warned or handled.\n\n## Counts\n\n{counts(df).to_markdown(index=False)}\n\n"
            f"## Cases\n\n{cases.to_markdown(index=False)}\n")

def main(argv=None):
    import pandas as pd, torch
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--smoke', action='store_true', help="a case or two of each group, nothing written")
    p.add_argument('--out', default=str(RESULTS/'reliability_trial.md'))
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    cases = [c for c in CASES if c.smoke or not a.smoke]
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d: df = pd.DataFrame(run(cases, Path(d)))
    print(counts(df).to_string(index=False))
    if not a.smoke:
        from wisefast.files import write_atomic
        write_atomic(a.out, markdown(df, 'python benchmarks/reliability_trial.py', (time.time() - t0) / 60))
    return df

if __name__ == '__main__': main()
