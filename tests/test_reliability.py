"Issue 16, 'nothing lost, nothing escapes': each fault a user met, reproduced on tiny data made here."
import json, os, shutil, subprocess, sys, warnings, zipfile, pytest, torch
from collections import Counter
import numpy as np, pandas as pd
from pathlib import Path
from PIL import Image
from wisefast import datasets as wds
from wisefast.archives import UnsafeArchiveError, safe_extract
from wisefast.datasets import dataset_items, download_dataset
from wisefast.test_utils import write_layout, zip_folder
import helpers
from fastai.callback.core import Callback
from fastai.torch_core import set_seed
from wisefast.cli import main, _source
from wisefast.data import wise_dls
from wisefast.recipes import scratch_224
from wisefast.export import export_learner, save_weights
from wisefast.load import load_exported, load_wise_model
from wisefast.images import scan_images

def _zip(fn, entries) -> Path:
    "A zip of `entries`: (name, data) files, (name, target, 'link') symlinks, (name, None) folders."
    with zipfile.ZipFile(fn, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data, *link in entries:
            zi = zipfile.ZipInfo(name); zi.compress_type = zipfile.ZIP_DEFLATED
            if link: zi.external_attr = (0o120777 << 16)
            elif data is None: zi.external_attr = (0o40755 << 16) | 0x10
            z.writestr(zi, data or '')
    return Path(fn)

def _tree(d) -> list: return sorted(str(p.relative_to(d)) for p in Path(d).rglob('*')) if Path(d).exists() else []

# 1. archives never write, link or create folders outside their destination
ESCAPES = {
    'link chain then file': [('p1/p2/s', '../..', 'link'), ('x', 'p1/p2/s/../../ESCAPED.txt', 'link'), ('x', 'pwned')],
    'deeper chain': [('a/b/c/s', '../../..', 'link'), ('t', 'a/b/c/s/../../../../ESCAPED.txt', 'link'), ('t', 'pwned')],
    'file through a link': [('up', '..', 'link'), ('up/ESCAPED.txt', 'pwned')],
    'folder through a link': [('up', '..', 'link'), ('up/ESCAPED/', None)],
    'link through a later link': [('x', 's/../ESCAPED.txt', 'link'), ('s', 'a', 'link'), ('a/', None)],
    'link left pointing out': [('d/s', '..', 'link'), ('out', 'd/s/../ESCAPED.txt', 'link')],
    'file after a link of the same name': [('x', '../ESCAPED.txt', 'link'), ('x', 'pwned')],
    'loop': [('a/l', '..', 'link')],
    'other case of a link': [('S', '..', 'link'), ('s/ESCAPED.txt', 'pwned')],     # one name where case is ignored
}

@pytest.mark.parametrize('case', list(ESCAPES))
def test_safe_extract_no_escape(tmp_path, case):
    z = _zip(tmp_path/'evil.zip', ESCAPES[case])
    work = tmp_path/'w'/'x'/'y'; work.mkdir(parents=True)
    with pytest.raises(UnsafeArchiveError): safe_extract(z, work/'dest')
    assert not list(tmp_path.rglob('ESCAPED*')) and _tree(tmp_path/'w') == ['x', 'x/y']   # nothing written, no temp folder

def test_download_dataset_archive_no_escape(tmp_path):
    write_layout('intel', tmp_path/'src')
    z = zip_folder(tmp_path/'src', tmp_path/'evil.zip', [('p1/p2/s', '../..', True), ('x', 'p1/p2/s/../../ESCAPED.txt', True),
                                                           ('x', 'pwned')])
    (tmp_path/'data').mkdir()
    with pytest.raises(UnsafeArchiveError): download_dataset('intel', tmp_path/'data'/'intel', archive=z, expected=dict(train=18, test=9))
    assert not list(tmp_path.rglob('ESCAPED*')) and list((tmp_path/'data').iterdir()) == []

def test_safe_extract_keeps_links_inside(tmp_path):
    z = _zip(tmp_path/'ok.zip', [('a/b.txt', 'hi'), ('lnk', 'a/b.txt', 'link'), ('a/up', '../a/b.txt', 'link')])
    out = safe_extract(z, tmp_path/'out')
    assert (out/'lnk').read_text() == 'hi' and (out/'a'/'up').read_text() == 'hi'

# 7. corrupt archives, __MACOSX; 8. size and ratio limits, stale temporary folders
def test_corrupt_entry_leaves_nothing(tmp_path):
    z = _zip(tmp_path/'c.zip', [('a.txt', 'a' * 1000), ('b.txt', os.urandom(3000).hex())])
    raw = bytearray(z.read_bytes()); i = raw.index(b'b.txt') + 5 + 200; raw[i:i+50] = b'\0' * 50
    z.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"entry 'b.txt' is corrupt"): safe_extract(z, tmp_path/'d')
    assert not (tmp_path/'d').exists() and sorted(p.name for p in tmp_path.iterdir()) == ['c.zip']
    (tmp_path/'n.zip').write_text('not a zip')
    with pytest.raises(ValueError, match='not a zip archive'): safe_extract(tmp_path/'n.zip', tmp_path/'d')

def test_macosx_folder_ignored(tmp_path):
    write_layout('intel', tmp_path/'src'/'intel')
    z = zip_folder(tmp_path/'src', tmp_path/'mac.zip', [('__MACOSX/intel/._seg_train', 'x'), ('__MACOSX/._intel', 'x'),
                                                        ('intel/.DS_Store', 'x')])
    d = download_dataset('intel', tmp_path/'data'/'intel', archive=z, expected=dict(train=18, test=9))
    assert not (tmp_path/'data'/'__MACOSX').exists() and not (d/'.DS_Store').exists()

def test_zip_bomb_limits(tmp_path):
    z = _zip(tmp_path/'bomb.zip', [('zeros.bin', b'\0' * 5_000_000)])
    with pytest.raises(UnsafeArchiveError, match='max_ratio'): safe_extract(z, tmp_path/'d')
    with pytest.raises(UnsafeArchiveError, match='max_size'): safe_extract(z, tmp_path/'d', max_size=1_000_000, max_ratio=1e9)
    assert not (tmp_path/'d').exists()
    assert (safe_extract(z, tmp_path/'d', max_ratio=1e9)/'zeros.bin').stat().st_size == 5_000_000

def test_stale_temporary_folders_removed(tmp_path):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    stale = tmp_path/f'.dest.tmp-{dead.stdout.strip()}-abcd1234'; (stale/'half').mkdir(parents=True)
    alive = tmp_path/f'.dest.tmp-{os.getppid()}-abcd1234'; alive.mkdir()          # a running process's: kept
    other = tmp_path/'.dest-keep'; other.mkdir()                                     # not ours: kept
    safe_extract(_zip(tmp_path/'a.zip', [('f.txt', 'x')]), tmp_path/'dest')
    assert not stale.exists() and alive.exists() and other.exists()

def test_verified_marker_not_trusted_after_deletion(tmp_path):
    z = zip_folder(write_layout('intel', tmp_path/'src'), tmp_path/'i.zip')
    d = download_dataset('intel', tmp_path/'intel', archive=z, expected=dict(train=18, test=9))
    assert download_dataset('intel', d) == d
    next((d/'seg_train').rglob('*.jpg')).unlink()
    with pytest.raises(FileExistsError, match='was verified but has changed'): download_dataset('intel', d)

def test_malformed_kaggle_json(tmp_path, monkeypatch):
    for k in list(os.environ):
        if k.startswith('KAGGLE_'): monkeypatch.delenv(k)
    monkeypatch.setenv('KAGGLE_CONFIG_DIR', str(tmp_path))
    for bad in ('{"username": "u", "key": ', '{"user": "u"}', '[1]'):
        (tmp_path/'kaggle.json').write_text(bad)
        with pytest.raises(PermissionError, match='kaggle.json is malformed'): download_dataset('intel', tmp_path/'intel')
    assert not (tmp_path/'intel').exists()

# 2. nothing lost: history, export and run folders

def _folder(d, n=8, classes=None):
    "A class folder of real 28×28 images (Fashion-MNIST sample), `n` per class, `classes` renamed if given."
    d, _ = helpers.image_folder(d, n_per_class=n)
    if classes:
        for old, new in zip(sorted(p.name for p in d.iterdir()), classes): (d/old).rename(d/new)
        for p in d.iterdir():
            if p.name not in classes: [f.unlink() for f in p.iterdir()]; p.rmdir()
    return d

def _dls(src, **kw): return wise_dls(src, size=32, bs=8, num_workers=0, augment=False, **kw)

def _train(dls, path, epochs, **kw):
    return scratch_224(dls, arch='test_resnet', size=32, bs=8, epochs=epochs, path=path, seed=0, **kw)

class _ReadHistory(Callback):
    "What `history.csv` holds in the middle of each training epoch: what a kill at that moment would leave"
    def after_batch(self):
        if self.training and self.iter == 1: self.seen.append((self.path/'history.csv').read_text())

def test_history_survives_kill_in_first_resumed_epoch(tmp_path):
    dls = _dls(_folder(tmp_path/'d', classes=['a', 'b', 'c']))
    _train(dls, tmp_path/'run', 1)
    first = (tmp_path/'run'/'history.csv').read_text()
    cb = _ReadHistory(); cb.seen = []
    _train(dls, tmp_path/'run', 3, resume=True, cbs=[cb])
    assert len(cb.seen) == 2 and cb.seen[0] == first                  # epoch 0's row is there all through epoch 1
    assert len(cb.seen[1].splitlines()) == 3

def test_export_atomic(tmp_path, monkeypatch):
    learn = _train(_dls(_folder(tmp_path/'d', classes=['a', 'b'])), tmp_path/'run', 1)
    good = export_learner(learn).read_bytes()
    from fastai.learner import Learner
    def killed(self, fname, **kw): Path(fname).write_bytes(b'half'); raise KeyboardInterrupt
    monkeypatch.setattr(Learner, 'export', killed)
    with pytest.raises(KeyboardInterrupt): export_learner(learn)
    assert (tmp_path/'run'/'export.pkl').read_bytes() == good and not list((tmp_path/'run').glob('*tmp'))

def _cli_train(data, out, *extra):
    return main(['train', '--data', str(data), '--arch', 'test_resnet', '--size', '32', '--bs', '8', '--augment', 'none',
                 '--workers', '0', '--epochs', '1', '--out', str(out), *extra])

def test_train_refuses_to_replace_a_run(tmp_path, capsys):
    data = _folder(tmp_path/'d', classes=['a', 'b'])
    assert _cli_train(data, tmp_path/'run', '--epochs', '2') == 0
    hist = (tmp_path/'run'/'history.csv').read_text()
    capsys.readouterr()
    assert _cli_train(data, tmp_path/'run') == 2
    err = capsys.readouterr().err
    assert 'already holds a run' in err and '--overwrite' in err and '--resume' in err and 'Traceback' not in err
    assert (tmp_path/'run'/'history.csv').read_text() == hist
    assert _cli_train(data, tmp_path/'run', '--resume', '--overwrite') == 2
    assert _cli_train(data, tmp_path/'run', '--overwrite') == 0
    assert len(pd.read_csv(tmp_path/'run'/'history.csv')) == 1

def test_default_run_names_differ_for_same_folder_names(tmp_path):
    (tmp_path/'a'/'train').mkdir(parents=True); (tmp_path/'b'/'train').mkdir(parents=True)
    na, nb = _source(str(tmp_path/'a'/'train'))[1], _source(str(tmp_path/'b'/'train'))[1]
    assert na != nb and na.startswith('train-') and nb.startswith('train-')

# 3. labels a user expects, or a clear error
def _img(f): f.parent.mkdir(parents=True, exist_ok=True); Image.fromarray(np.random.randint(0, 255, (16, 16, 3), np.uint8)).save(f)

def test_class_named_train_is_a_class(tmp_path):
    for c in ('cat', 'dog', 'train'):
        for i in range(3): _img(tmp_path/c/f'{i}.png')
    assert wds.detect_layout(tmp_path) == 'classes'
    with pytest.warns(UserWarning, match='train taken as class'): its = dataset_items(tmp_path)
    assert sorted({y for _, y in its['train']}) == ['cat', 'dog', 'train']
    split = tmp_path/'split'
    for s in ('train', 'valid'):
        for c in ('cat', 'dog'): _img(split/s/c/'0.png')
    assert wds.detect_layout(split) == 'folders'

def test_nested_class_folders_stray_and_empty(tmp_path):
    for c in ('cat', 'dog'):
        for i in range(3): _img(tmp_path/c/'2019'/f'{i}.png')
    _img(tmp_path/'stray.png'); (tmp_path/'bird').mkdir()
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        its = dataset_items(tmp_path)['train']
    assert sorted({y for _, y in its}) == ['cat', 'dog'] and len(its) == 6
    msgs = ' '.join(str(w.message) for w in ws)
    assert 'stray.png' in msgs and 'bird' in msgs

def test_one_class_and_empty_folder_are_errors(tmp_path):
    for i in range(4): _img(tmp_path/'one'/'cat'/f'{i}.png')
    with pytest.raises(ValueError, match="one class only \\('cat'\\)"): _dls(tmp_path/'one')
    (tmp_path/'empty').mkdir(); (tmp_path/'empty'/'notes.txt').write_text('x')
    with pytest.raises(ValueError, match='no readable training images'): _dls(tmp_path/'empty')
    assert main(['train', '--data', str(tmp_path/'empty'), '--arch', 'test_resnet', '--size', '32']) == 2

def test_class_with_one_image_goes_to_training(tmp_path):
    for c, n in (('a', 5), ('b', 5), ('c', 1)):
        for i in range(n): _img(tmp_path/c/f'{i}.png')
    with pytest.warns(UserWarning, match='c have a single image'): dls = _dls(tmp_path, valid_pct=0.3)
    assert 'c' in {y for _, y in dls.train_ds.items} and 'c' not in {y for _, y in dls.valid_ds.items}

# 10. folders walked once: folder links followed at most once, never a file in two splits; a class lost to unreadable files named
def _classes(d, n=6): return helpers.image_folder(d, n_per_class=n)[0]    # ten class folders '0'..'9' of real images

def _real(items) -> list: return [os.path.realpath(x) for x, _ in items]

def test_symlink_loop_read_once(tmp_path):
    "Today: 60 images become 2,460, 640 of other classes labelled `0`, 24 files in both the training and the validation set"
    ds = _classes(tmp_path/'ds')
    os.symlink('..', ds/'0'/'loop')
    with pytest.warns(UserWarning, match=r"folder link\(s\) not followed.*0/loop -> \.\."): its = dataset_items(ds)['train']
    assert len(its) == 60 and Counter(y for _, y in its) == {str(c): 6 for c in range(10)}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        dls = _dls(ds)
    tr, va = _real(dls.train_ds.items), _real(dls.valid_ds.items)
    assert len(tr) + len(va) == 60 and len(set(tr + va)) == 60
    assert [Path(f).parent.name for f in tr + va] == [y for _, y in dls.train_ds.items + dls.valid_ds.items]

def test_links_to_other_classes_and_outside(tmp_path):
    ds, out = _classes(tmp_path/'ds'), _classes(tmp_path/'elsewhere', n=2)/'3'
    os.symlink('../1', ds/'0'/'sibling'); os.symlink(out, ds/'0'/'outside'); os.symlink(ds/'0', ds/'0'/'self')
    (ds/'0'/'sub').mkdir(); shutil.move(next((ds/'0').glob('*.png')), ds/'0'/'sub')
    os.symlink('sub', ds/'0'/'also')                        # a folder of the class under two names: read once
    os.symlink(out, ds/'extra')                             # a whole class stored elsewhere: followed
    os.symlink('0', ds/'zero')                              # another name for a class: not a class
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        its = dataset_items(ds)['train']
    msg = ' '.join(str(w.message) for w in ws)
    assert all(l in msg for l in ('0/sibling -> ../1', f'0/outside -> {out}', f"0/self -> {ds/'0'}", 'zero -> 0')), msg
    assert 'also' not in msg
    assert Counter(y for _, y in its) == {**{str(c): 6 for c in range(10)}, 'extra': 2} and len(set(_real(its))) == 62

def test_file_in_two_splits_kept_in_one(tmp_path):
    for s in ('train', 'test'): _classes(tmp_path/s, n=3)
    t = sorted((tmp_path/'test'/'2').iterdir())[0]
    os.symlink(t, tmp_path/'train'/'2'/'linked.png'); os.link(t, tmp_path/'train'/'2'/'hard.png')   # a test image in train
    with pytest.warns(UserWarning, match='2 item.s. name a file counted already'): its = dataset_items(tmp_path)
    assert (len(its['train']), len(its['test'])) == (30, 30)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        dls = _dls(tmp_path)
    tr, va, te = (set(_real(v)) for v in (dls.train_ds.items, dls.valid_ds.items, dls.test_items))
    assert len(tr) + len(va) == 30 and not (tr & va or tr & te or va & te)

def test_class_of_unreadable_images_named(tmp_path):
    "Today: the files are reported as skipped, the class disappears unnamed"
    ds = _classes(tmp_path/'ds', n=4)
    for f in (ds/'7').iterdir(): f.write_bytes(b'not an image')
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        dls = _dls(ds)
    assert '7' not in dls.vocab and len(dls.vocab) == 9
    assert any('class(es) 7 lost all their images' in str(w.message) for w in ws), [str(w.message) for w in ws]

def test_resume_on_other_classes_refused(tmp_path, capsys):
    a, b = _folder(tmp_path/'a', classes=['cat', 'dog']), _folder(tmp_path/'b', classes=['car', 'dog'])
    assert _cli_train(a, tmp_path/'run') == 0
    capsys.readouterr()
    assert _cli_train(b, tmp_path/'run', '--resume', '--epochs', '2') == 2
    err = capsys.readouterr().err
    assert 'trained on other classes' in err and "'cat' where they have 'car'" in err and 'Traceback' not in err

# 4. predict: no class for what is not an image; safetensors; the pickle warning kept
def test_predict_unreadable_and_safetensors(tmp_path, capsys):
    data = _folder(tmp_path/'d', classes=['a', 'b'])
    assert _cli_train(data, tmp_path/'run') == 0
    bad = tmp_path/'bad'; bad.mkdir()
    (bad/'empty.jpg').write_bytes(b''); (bad/'noise.jpg').write_bytes(os.urandom(2000)); (bad/'notes.txt').write_text('hi')
    good = next((data/'a').iterdir())
    capsys.readouterr()
    assert main(['predict', str(tmp_path/'run'), str(good), *map(str, sorted(bad.iterdir()))]) == 1
    out, err = capsys.readouterr()
    rows = [l.split('\t') for l in out.splitlines()]
    assert len(rows) == 4 and rows[0][1] in ('a', 'b') and [r[1] for r in rows[1:]] == ['unreadable'] * 3
    assert '3 of 4 file(s) are not readable images' in err
    with pytest.warns(UserWarning, match='pickle'): learn = load_exported(tmp_path/'run')
    st = save_weights(learn, tmp_path/'m.safetensors')
    assert main(['predict', str(st), str(good)]) == 0
    out = capsys.readouterr().out.split('\t')
    assert out[1] == rows[0][1] and float(out[2]) == pytest.approx(float(rows[0][2]), abs=1e-3)   # as export.pkl predicts

# 5. images broken after a valid header: counted, listed in the run folder
def _broken_png(f):
    "A PNG whose chunks (and CRCs) are valid, so Pillow's header check passes, but whose pixel data is garbage"
    import io, struct, zlib
    buf = io.BytesIO(); Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, 'png'); raw = buf.getvalue()
    i = raw.index(b'IDAT') - 4; n = struct.unpack('>I', raw[i:i+4])[0]
    junk = os.urandom(n)
    f.write_bytes(raw[:i+8] + junk + struct.pack('>I', zlib.crc32(b'IDAT' + junk)) + raw[i+12+n:])
    return f

def test_broken_after_header_skipped_and_listed(tmp_path, capsys):
    data = _folder(tmp_path/'d', classes=['a', 'b'])
    bad = _broken_png(data/'a'/'broken.png')
    assert scan_images([bad]) == [] and scan_images([bad], full=True) == [bad]   # the header check alone misses it
    with pytest.warns(UserWarning, match='unreadable'): dls = _dls(data)
    assert sum(dls.skipped.values()) == 1 and bad in sum(dls.skipped_files.values(), [])
    assert bad not in [x for x, _ in dls.train_ds.items + dls.valid_ds.items]
    _train(dls, tmp_path/'run', 1)
    assert (tmp_path/'run'/'skipped.txt').read_text() == f"train\t{bad}\n"
    assert _cli_train(data, tmp_path/'cli') == 0                                  # the run summary says so too
    assert '1 unreadable files skipped, listed in skipped.txt' in capsys.readouterr().out
    assert (tmp_path/'cli'/'skipped.txt').read_text() == f"train\t{bad}\n"

def test_pixel_limit(tmp_path, monkeypatch):
    from wisefast.images import load_rgb
    big = tmp_path/'big.png'; Image.new('RGB', (100, 100)).save(big)
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 5000)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        assert scan_images([big]) == [big] and scan_images([big], full=True) == [big]
        with pytest.raises(Image.DecompressionBombError, match='MAX_IMAGE_PIXELS'): load_rgb(big)

# 6. same seed, same result, without workers too
def test_same_seed_same_augmentation_without_workers(tmp_path):
    data = _folder(tmp_path/'d', classes=['a', 'b'])
    def first_batch():
        set_seed(7)
        return wise_dls(data, size=32, bs=8, num_workers=0, augment=True).one_batch()[0]
    assert torch.equal(first_batch(), first_batch())
    from wisefast.learner import wise_learner
    def fit():
        set_seed(7)
        learn = wise_learner(wise_dls(data, size=32, bs=8, num_workers=0, augment=True), 'test_resnet', pretrained=False)
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 0.01)
        return torch.cat([p.detach().flatten() for p in learn.model.parameters()])
    assert torch.equal(fit(), fit())

# 9. a safetensors header is data only
def _edit_header(src, dst, **changes):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    with safe_open(str(src), 'pt') as f: meta = f.metadata()
    cfg = {**json.loads(meta['wisefast_config']), **changes}
    save_file(load_file(str(src)), str(dst), metadata={**meta, 'wisefast_config': json.dumps(cfg)})
    return dst

def test_safetensors_header_checked(tmp_path, monkeypatch):
    from wisefast.models import create_wise_model
    import timm
    f = save_weights(create_wise_model('test_resnet', 2, size=32), tmp_path/'m.safetensors')
    calls = []
    monkeypatch.setattr(timm, 'create_model', lambda *a, **kw: calls.append(kw) or pytest.fail('timm called'))
    for change, msg in [(dict(pretrained=True), 'unknown field'), (dict(drop_rate=0.5), 'unknown field'),
                        (dict(n_out='2'), "n_out='2': expected"), (dict(size=[32, 32, 3]), r'size=\[32, 32, 3\]: expected'),
                        (dict(arch=['x']), r"arch=\['x'\]: expected"),
                        (dict(timm_kwargs=dict(pretrained_cfg_overlay=dict(file='x'))), 'timm_kwargs=')]:
        with pytest.raises(ValueError, match=msg): load_wise_model(_edit_header(f, tmp_path/'e.safetensors', **change))
    assert calls == []
    monkeypatch.undo()
    assert load_wise_model(f).cfg == create_wise_model('test_resnet', 2, size=32).cfg

def test_damaged_model_files_are_user_errors(tmp_path, capsys):
    img = tmp_path/'a.png'; _img(img)
    (tmp_path/'export.pkl').write_bytes(b''); (tmp_path/'m.safetensors').write_bytes(os.urandom(100))
    for model, msg in [(tmp_path/'export.pkl', 'not a readable fastai export'), (tmp_path/'m.safetensors', 'not a safetensors file')]:
        assert main(['predict', str(model), str(img)]) == 2
        err = capsys.readouterr().err
        assert msg in err and 'Traceback' not in err

def test_resume_from_damaged_or_other_checkpoint(tmp_path, capsys):
    data = _folder(tmp_path/'d', classes=['a', 'b'])
    assert _cli_train(data, tmp_path/'run') == 0
    capsys.readouterr()
    assert _cli_train(data, tmp_path/'run', '--resume', '--epochs', '2', '--head', 'gap') == 2       # another head
    assert 'weights of another model' in capsys.readouterr().err
    (tmp_path/'run'/'models'/'last.pth').write_bytes(b'\0' * 10)
    assert _cli_train(data, tmp_path/'run', '--resume', '--epochs', '2') == 2
    err = capsys.readouterr().err
    assert 'is damaged' in err and 'Traceback' not in err
