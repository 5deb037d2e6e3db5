"Tests of wisefast.data, .datasets and .images: dataset layouts, splits, Fashion-MNIST, bad images, Kaggle download (no network)."
import gzip, hashlib, json, os, shutil, struct, warnings, zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
from PIL import Image
from fastai.data.transforms import RandomSplitter
from fastai.data.external import fastai_cfg

import wisefast.datasets as wds
from wisefast.data import wise_dls, wise_dblock, wise_test_dl, stratified_split
from wisefast.archives import safe_extract, UnsafeArchiveError
from wisefast.datasets import (dataset_items, detect_layout, download_dataset, read_idx, load_fashion_mnist, fashion_mnist_path,
                               sample_path, is_sample, VERIFIED, KAGGLE_DATASETS, FASHION_MNIST_CLASSES)
from wisefast.download import kaggle_credentials
from wisefast.images import RGBImage, scan_images
from wisefast.test_utils import write_layout, write_bad_images, write_class_folders, zip_folder

CLASSES = ('kitchen', 'bar', 'office')
SMALL = dict(size=16, bs=4, num_workers=0)


def _xs(items): return {str(x) for x, _ in items}


# ---------------------------------------------------------------- layouts and splits
@pytest.mark.parametrize('name', list(KAGGLE_DATASETS))
def test_layouts(tmp_path, name):
    root = write_layout(name, tmp_path/name, n_train=10, n_test=4)
    assert detect_layout(root) == name
    dls = wise_dls(name, path=root, valid_pct=0.2, **SMALL)
    assert dls.vocab == sorted(CLASSES)
    assert (len(dls.train_ds), len(dls.valid_ds), len(dls.test_items)) == (24, 6, 12)
    xb, yb = dls.one_batch()
    assert xb.shape == (4, 3, 16, 16) and yb.shape == (4,)
    tr, va, te = _xs(dls.train_ds.items), _xs(dls.valid_ds.items), _xs(dls.test_items)
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert Counter(y for _, y in dls.valid_ds.items) == Counter({c: 2 for c in CLASSES})   # stratified
    tdl = wise_test_dl(dls)
    assert len(tdl.dataset) == 12 and tdl.one_batch()[0].shape == (4, 3, 16, 16)
    assert all(x.parent.name == y for x, y in dls.test_items)


def test_intel_ignores_seg_pred(tmp_path):
    root = write_layout('intel', tmp_path/'intel')
    its = dataset_items('intel', root)
    assert not any('seg_pred' in Path(x).relative_to(root).parts[0] for s in its.values() for x, _ in s)


def test_imagenet70_windows_paths(tmp_path):
    root = write_layout('imagenet70', tmp_path/'in70', n_train=2, n_test=1)
    # absolute Windows paths from the author's machine resolve to the files under the dataset root
    rows = [f'D:\\datasets\\imagenet70\\train\\{c}\\{c}_{j}.JPEG,{c}' for c in CLASSES for j in range(2)]
    (root/'train.csv').write_text('filename,class\n' + '\n'.join(rows))
    its = dataset_items(root)
    assert len(its['train']) == 6 and all(Path(x).is_file() for x, _ in its['train'])
    (root/'test.csv').write_text('filename,class\ntest\\bar\\missing.JPEG,bar\ntest\\bar\\bar_0.JPEG,bar\n')
    with pytest.warns(UserWarning, match='missing'): its = dataset_items(root)
    assert len(its['test']) == 1


def test_mit_missing_list(tmp_path):
    root = write_layout('mit_indoor', tmp_path/'mit')
    (root/'TestImages.txt').unlink()
    with pytest.raises(FileNotFoundError, match='TestImages.txt'): dataset_items('mit_indoor', root)


def test_stratified_split_properties():
    items = [(i, f'c{i % 5}') for i in range(500)] + [(1000 + i, 'rare') for i in range(10)]
    tr, va = stratified_split(items, 0.2, seed=1)
    assert len(va) == 102 and not (set(tr) & set(va)) and len(tr) + len(va) == len(items)
    cnt = Counter(y for _, y in va)
    assert all(cnt[f'c{k}'] == 20 for k in range(5)) and cnt['rare'] == 2
    assert stratified_split(items, 0.2, seed=1) == (tr, va)
    assert stratified_split(items, 0.2, seed=2) != (tr, va)
    with pytest.warns(UserWarning, match='single have a single image: kept for training'):   # not a KeyError later
        tr2, va2 = stratified_split(items + [(9999, 'single')], 0.2, seed=1)
    assert (9999, 'single') in tr2 and (tr2, va2) == (tr + [(9999, 'single')], va)


def test_folder_sources(tmp_path):
    # class folders only: stratified random split, no test split
    src = write_class_folders(tmp_path/'cls', CLASSES, n=10)
    dls = wise_dls(src, valid_pct=0.3, **SMALL)
    assert (len(dls.train_ds), len(dls.valid_ds), dls.test_items) == (21, 9, None)
    with pytest.raises(ValueError, match='no test split'): wise_test_dl(dls)
    with pytest.raises(ValueError, match='no test split'): wise_dls(src, test_as_valid=True, **SMALL)
    # train/valid folders: valid used as given; train/test: valid carved from train, test kept
    for s, k in (('train', 6), ('valid', 2), ('test', 3)): write_class_folders(tmp_path/'tvt'/s, CLASSES, n=k)
    dls = wise_dls(tmp_path/'tvt', **SMALL)
    assert (len(dls.train_ds), len(dls.valid_ds), len(dls.test_items)) == (18, 6, 9)
    shutil.rmtree(tmp_path/'tvt'/'valid')
    dls = wise_dls(tmp_path/'tvt', valid_pct=1/6, **SMALL)
    assert (len(dls.train_ds), len(dls.valid_ds), len(dls.test_items)) == (15, 3, 9)
    dls = wise_dls(tmp_path/'tvt', test_as_valid=True, **SMALL)
    assert len(dls.train_ds) == 18 and dls.valid_ds.items == dls.test_items


def test_n_per_class_and_options(tmp_path):
    root = write_layout('intel', tmp_path/'intel', n_train=10, n_test=5)
    dls = wise_dls('intel', path=root, n_per_class=4, valid_pct=0.25, **SMALL)
    assert (len(dls.train_ds), len(dls.valid_ds), len(dls.test_items)) == (9, 3, 12)
    dls = wise_dls('intel', path=root, n_per_class=(4, 2), test_as_valid=True, resize='crop', preprocess='torch',
                   augment='gpu', **SMALL)
    assert (len(dls.train_ds), len(dls.valid_ds)) == (12, 6)
    assert dls.one_batch()[0].shape == (4, 3, 16, 16)
    dls = wise_dls('intel', path=root, augment=False, preprocess=None, resize='pad', **dict(SMALL, size=(12, 20)))
    xb = dls.one_batch()[0]
    assert xb.shape == (4, 3, 12, 20) and 0 <= xb.min() and xb.max() <= 1
    with pytest.raises(FileNotFoundError, match='download_dataset'): wise_dls('intel', path=tmp_path/'none')
    with pytest.raises(FileNotFoundError, match='neither a folder'): wise_dls('imagenet_71')


def test_resize_stretch_nearest(tmp_path):
    # stretch = whole image squashed, nearest neighbour: a 2-colour image keeps exactly its two colours
    d = tmp_path/'img'/'a'; d.mkdir(parents=True)
    a = np.zeros((10, 30, 3), np.uint8); a[:, 15:] = 200
    for i in range(2): Image.fromarray(a).save(d/f'{i}.png')
    dls = wise_dblock(8, augment=False, preprocess=None, splitter=RandomSplitter(0.5)).dataloaders(
        tmp_path/'img', bs=1, num_workers=0)
    x = (dls.valid.one_batch()[0][0]*255).round()
    assert x.shape == (3, 8, 8) and set(x.unique().tolist()) == {0., 200.}
    assert (x[:, :, :4] == 0).all() and (x[:, :, 4:] == 200).all()


# ---------------------------------------------------------------- Fashion-MNIST
def test_fashion_mnist_full(full_fashion_mnist):
    data = load_fashion_mnist(full_fashion_mnist)
    (xtr, ytr), (xte, yte) = data['train'], data['test']
    assert xtr.shape == (60_000, 28, 28) and xte.shape == (10_000, 28, 28) and xtr.dtype == np.uint8
    assert np.bincount(ytr).tolist() == [6000] * 10 and np.bincount(yte).tolist() == [1000] * 10
    assert not is_sample(full_fashion_mnist) and fashion_mnist_path() == full_fashion_mnist   # found before the sample


def test_fashion_mnist_sample():
    "The sample is a stratified subset of the real data: every image also in the full set where that is installed."
    data = load_fashion_mnist(sample_path('fashion_mnist'))
    (xtr, ytr), (xte, yte) = data['train'], data['test']
    assert xtr.shape == (3000, 28, 28) and xte.shape == (1000, 28, 28) and xtr.dtype == np.uint8
    assert np.bincount(ytr).tolist() == [300] * 10 and np.bincount(yte).tolist() == [100] * 10
    assert len({x.tobytes() for x in xtr}) == 3000 and xtr.std() > 50       # real, distinct images, not blanks
    assert 'MIT' in (sample_path('fashion_mnist')/'README.md').read_text()


def test_fashion_mnist_sample_in_full(full_fashion_mnist):
    full, smp = load_fashion_mnist(full_fashion_mnist), load_fashion_mnist(sample_path('fashion_mnist'))
    for s in ('train', 'test'):
        index = {x.tobytes(): y for x, y in zip(*full[s])}
        assert all(index.get(x.tobytes()) == y for x, y in zip(*smp[s]))


def test_fashion_mnist_sample_rebuilds(full_fashion_mnist, tmp_path):
    "`tools/make_fashion_sample.py` makes the shipped sample again, byte for byte, from the full dataset."
    import runpy
    runpy.run_path(str(Path(__file__).parents[1]/'tools'/'make_fashion_sample.py'))['main'](
        ['--src', str(full_fashion_mnist), '--out', str(tmp_path)])
    for f in sum(wds.FASHION_MNIST_FILES.values(), ()):
        assert (tmp_path/f).read_bytes() == (sample_path('fashion_mnist')/f).read_bytes(), f


def test_fashion_mnist_dls_show_batch():
    dls = wise_dls('fashion_mnist', size=32, bs=8, n_per_class=(10, 3), augment=False, num_workers=0)
    assert (len(dls.train_ds), len(dls.valid_ds), len(dls.test_items)) == (90, 10, 30)
    assert dls.vocab == sorted(FASHION_MNIST_CLASSES)
    xb, yb = dls.valid.one_batch()
    assert xb.shape == (8, 3, 32, 32)
    # decoding undoes the Caffe preprocessing: a grey image comes back with three equal channels in [0, 1]
    dec = dls.decode((xb, yb))[0].float() / 255
    assert 0 <= float(dec.min()) and float(dec.max()) <= 1
    tol = 1.01/255                                        # IntToFloatTensor.decodes truncates to an int
    assert np.allclose(dec[:, 0], dec[:, 1], atol=tol) and np.allclose(dec[:, 1], dec[:, 2], atol=tol)
    # nearest-neighbour upscaling of the 28x28 original (valid: no augmentation)
    x0, y0 = dls.valid_ds.items[0]
    ref = np.asarray(Image.fromarray(x0).resize((32, 32), Image.NEAREST), np.float32) / 255
    assert np.allclose(dec[0, 0].numpy(), ref, atol=tol)
    plt.close('all')
    dls.show_batch(max_n=6)
    fig = plt.gcf()
    assert len([ax for ax in fig.axes if ax.images]) == 6
    assert {ax.get_title() for ax in fig.axes if ax.images} <= set(FASHION_MNIST_CLASSES)
    plt.close('all')
    tdl = wise_test_dl(dls)
    assert len(tdl.dataset) == 30


@pytest.fixture
def no_fashion_mnist(tmp_path, monkeypatch):
    "A machine without the full Fashion-MNIST: empty system dataset folder, empty fastai home."
    monkeypatch.setenv('WISEFAST_SYSTEM_DATA', str(tmp_path/'system'))
    monkeypatch.setenv('FASTAI_HOME', str(tmp_path/'fastai'))
    fastai_cfg.cache_clear()                              # fastai reads FASTAI_HOME once per process
    yield tmp_path/'fastai'/'data'/'fashion_mnist'
    monkeypatch.undo(); fastai_cfg.cache_clear()


@pytest.fixture
def fmnist_server(tmp_path):
    "A real HTTP server on 127.0.0.1 serving a copy of the sample's four files: `(folder, url)`."
    import functools, http.server, threading
    root = tmp_path/'www'
    shutil.copytree(sample_path('fashion_mnist'), root)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield root, f'http://127.0.0.1:{srv.server_port}/'
    srv.shutdown(); srv.server_close()


def test_fashion_mnist_falls_back_to_sample(no_fashion_mnist):
    with pytest.warns(UserWarning, match='sample shipped with wisefast'): d = fashion_mnist_path()
    assert is_sample(d) and d == sample_path('fashion_mnist')
    with pytest.raises(FileNotFoundError, match='download=True'): fashion_mnist_path(sample=False)
    with pytest.warns(UserWarning, match='sample'): dls = wise_dls('fashion_mnist', n_per_class=(2, 1), **SMALL)
    assert len(dls.test_items) == 10 and not no_fashion_mnist.exists()


def test_fashion_mnist_download(no_fashion_mnist, fmnist_server, monkeypatch):
    "`download=True` really downloads (over HTTP), checks the files, and moves them in only when all four arrived."
    www, url = fmnist_server
    monkeypatch.setattr(wds, 'FASHION_MNIST_URL', url)
    monkeypatch.setattr(wds, 'FASHION_MNIST_SHA256', {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in www.glob('*.gz')})
    dest = no_fashion_mnist
    (www/'t10k-labels-idx1-ubyte.gz').unlink()                                   # the server lacks one file: 404
    with pytest.raises(ConnectionError, match=f'{url}t10k-labels-idx1-ubyte.gz: HTTP 404'): fashion_mnist_path(download=True)
    assert not dest.exists() and not list(dest.parent.glob('.*'))                # nothing left behind
    (www/'t10k-labels-idx1-ubyte.gz').write_bytes(b'<html>proxy error</html>')   # an error page, not the file
    with pytest.raises(ConnectionError, match='not the expected file'): fashion_mnist_path(download=True)
    assert not dest.exists() and not list(dest.parent.glob('.*'))
    shutil.copy(sample_path('fashion_mnist')/'t10k-labels-idx1-ubyte.gz', www)
    dls = wise_dls('fashion_mnist', download=True, n_per_class=(2, 1), **SMALL)  # `wise_dls` passes `download` on
    assert fashion_mnist_path() == dest and not is_sample(dest) and len(dls.test_items) == 10
    assert sorted(p.name for p in dest.iterdir()) == sorted(sum(wds.FASHION_MNIST_FILES.values(), ()))
    assert (dest/'train-images-idx3-ubyte.gz').read_bytes() == (www/'train-images-idx3-ubyte.gz').read_bytes()
    (www/'train-images-idx3-ubyte.gz').unlink()
    assert fashion_mnist_path(download=True) == dest                             # already there: no download


def test_read_idx_errors(tmp_path):
    (tmp_path/'a').write_bytes(b'\0\0\x08\x02' + struct.pack('>2I', 2, 3) + bytes(range(6)))
    assert read_idx(tmp_path/'a').tolist() == [[0, 1, 2], [3, 4, 5]]
    (tmp_path/'b').write_bytes(b'\0\0\x08\x02' + struct.pack('>2I', 2, 3) + bytes(range(5)))
    with pytest.raises(ValueError, match='truncated'): read_idx(tmp_path/'b')
    (tmp_path/'c').write_bytes(b'PK\x03\x04junk')
    with pytest.raises(ValueError, match='not an IDX'): read_idx(tmp_path/'c')


# ---------------------------------------------------------------- bad images
def test_bad_image_conversions(tmp_path):
    fns = write_bad_images(tmp_path)
    ramp = np.arange(0, 256, 8)
    for k in ('grey', 'rgba', 'la', 'palette', 'i16', 'i32', 'float', 'png_as_jpg', 'gif_as_jpg', 'tiny'):
        im = RGBImage.create(fns[k])
        assert im.mode == 'RGB' and np.asarray(im).dtype == np.uint8, k
    for k in ('grey', 'la', 'i16', 'i32', 'float'):                       # scaled, not clipped
        assert np.asarray(RGBImage.create(fns[k]))[5, :, 1].tolist() == ramp.tolist(), k
    assert RGBImage.create(fns['tiny']).size == (2, 3)
    with pytest.warns(UserWarning, match='truncated'): assert RGBImage.create(fns['truncated']).size == (64, 64)
    for k in ('corrupt', 'empty'):
        with pytest.warns(UserWarning, match='unreadable'): assert RGBImage.create(fns[k]).size == (32, 32)
    assert set(scan_images(fns.values())) == {fns['corrupt'], fns['empty']}
    assert set(scan_images(fns.values(), full=True)) == {fns['corrupt'], fns['empty'], fns['truncated']}


@pytest.mark.parametrize('check', ['header', 'full', False])
def test_bad_images_never_crash_an_epoch(tmp_path, check):
    src = write_class_folders(tmp_path/'src', ('a', 'b'), n=4)
    for i, (k, f) in enumerate(write_bad_images(tmp_path/'bad').items()):
        shutil.copy(f, src/'ab'[i % 2]/f'bad_{k}.jpg')
    n_bad = {'header': 2, 'full': 3, False: 0}[check]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        dls = wise_dls(src, size=24, bs=5, valid_pct=0.25, check_images=check, num_workers=0)
        n = 0
        for dl in (dls.train, dls.valid):
            for xb, yb in dl: n += len(xb); assert xb.shape[1:] == (3, 24, 24)
    assert sum(dls.skipped.values()) == n_bad
    assert len(dls.train_ds) + len(dls.valid_ds) == 8 + 13 - n_bad
    assert n == len(dls.train.dataset) // 5 * 5 + len(dls.valid_ds)           # train drops the last partial batch
    if check: assert any(f'skipping {n_bad} unreadable' in str(o.message) for o in w)
    else: assert any('unreadable image' in str(o.message) for o in w)          # black image substituted


def test_bad_images_with_workers(tmp_path):
    src = write_class_folders(tmp_path/'src', ('a', 'b'), n=4)
    fns = write_bad_images(tmp_path/'bad')
    shutil.copy(fns['corrupt'], src/'a'/'x.jpg'); shutil.copy(fns['truncated'], src/'b'/'y.jpg')
    dls = wise_dls(src, size=16, bs=2, valid_pct=0.25, check_images=False, num_workers=2)
    assert sum(len(xb) for xb, _ in dls.train) == len(dls.train_ds) // 2 * 2


# ---------------------------------------------------------------- Kaggle download (network call replaced)
@pytest.fixture
def kaggle_env(tmp_path, monkeypatch):
    "Legacy Kaggle credentials in env vars, a private HOME, and a fake KaggleApi.dataset_download_files."
    for k in list(os.environ):
        if k.startswith('KAGGLE_'): monkeypatch.delenv(k)
    monkeypatch.setenv('HOME', str(tmp_path/'home'))
    monkeypatch.setenv('KAGGLE_CONFIG_DIR', str(tmp_path/'home'/'.kaggle'))
    monkeypatch.setenv('KAGGLE_USERNAME', 'tester'); monkeypatch.setenv('KAGGLE_KEY', '0123456789abcdef')
    from kaggle.api.kaggle_api_extended import KaggleApi
    calls, archives = [], {}
    def fake(self, dataset, path=None, force=False, quiet=True, unzip=False, licenses=[]):
        calls.append((dataset, unzip)); assert self._authenticated
        Path(path).mkdir(parents=True, exist_ok=True)
        shutil.copy(archives[dataset], Path(path)/(dataset.split('/')[1] + '.zip'))
    monkeypatch.setattr(KaggleApi, 'dataset_download_files', fake)
    return calls, archives


def _archive(tmp_path, name, wrap=None, **kw):
    src = write_layout(name, tmp_path/f'src_{name}'/(wrap or ''), **kw)
    return zip_folder(tmp_path/f'src_{name}', tmp_path/f'{name}.zip')


@pytest.mark.parametrize('name', list(KAGGLE_DATASETS))
def test_download_real_layouts(tmp_path, kaggle_env, name):
    calls, archives = kaggle_env
    slug = KAGGLE_DATASETS[name]['slug']
    archives[slug] = _archive(tmp_path, name)
    dest = tmp_path/'data'/name
    d = download_dataset(name, dest, expected=dict(train=18, test=9))
    assert d == dest and calls == [(slug, False)]
    assert json.loads((d/VERIFIED).read_text())['counts'] == dict(train=18, test=9)
    assert [p.name for p in (tmp_path/'data').iterdir()] == [name]                 # temporary folder gone
    assert download_dataset(name, dest, expected=dict(train=18, test=9)) == dest and len(calls) == 1
    dls = wise_dls(name, path=d, **SMALL)
    assert len(dls.test_items) == 9


def test_download_wrapped_archive_and_wise_dls(tmp_path, kaggle_env, monkeypatch):
    calls, archives = kaggle_env
    archives[KAGGLE_DATASETS['intel']['slug']] = _archive(tmp_path, 'intel', wrap='intel-image-classification')
    monkeypatch.setitem(KAGGLE_DATASETS, 'intel', dict(KAGGLE_DATASETS['intel'], counts=dict(train=18, test=9)))
    dest = tmp_path/'intel'
    with pytest.raises(FileNotFoundError, match='download_dataset'): wise_dls('intel', path=dest, **SMALL)
    dls = wise_dls('intel', path=dest, download=True, **SMALL)
    assert (dest/'seg_train'/'seg_train').is_dir() and len(dls.test_items) == 9 and len(calls) == 1


def test_download_wrong_counts(tmp_path, kaggle_env):
    calls, archives = kaggle_env
    archives[KAGGLE_DATASETS['intel']['slug']] = _archive(tmp_path, 'intel')
    with pytest.raises(ValueError, match=r"expected \{'train': 14034, 'test': 3000\}"):
        download_dataset('intel', tmp_path/'data'/'intel')
    assert not (tmp_path/'data'/'intel').exists() and list((tmp_path/'data').iterdir()) == []


def test_download_unsafe_archive(tmp_path, kaggle_env):
    calls, archives = kaggle_env
    slug = KAGGLE_DATASETS['mit_indoor']['slug']
    write_layout('mit_indoor', tmp_path/'m')
    for extra in [('../../outside.txt', 'x'), (str(tmp_path/'abs.txt'), 'x'), ('indoorCVPR_09/evil', '/etc/passwd', True),
                  ('indoorCVPR_09/up', '../../..', True)]:
        archives[slug] = zip_folder(tmp_path/'m', tmp_path/'bad.zip', [extra])
        with pytest.raises(UnsafeArchiveError): download_dataset('mit_indoor', tmp_path/'data'/'mit', expected=dict(train=18, test=9))
        assert not (tmp_path/'data'/'mit').exists() and list((tmp_path/'data').iterdir()) == []
    assert not (tmp_path/'outside.txt').exists() and not (tmp_path/'abs.txt').exists()


def test_safe_extract_keeps_inside_symlinks(tmp_path):
    z = zip_folder(write_layout('intel', tmp_path/'i'), tmp_path/'z.zip', [('a\\b.txt', 'hi'), ('lnk', 'a/b.txt', True)])
    out = safe_extract(z, tmp_path/'out')
    assert (out/'a'/'b.txt').read_text() == 'hi' and (out/'lnk').read_text() == 'hi'


def test_download_missing_credentials(tmp_path, monkeypatch):
    for k in list(os.environ):
        if k.startswith('KAGGLE_'): monkeypatch.delenv(k)
    monkeypatch.setenv('HOME', str(tmp_path/'home')); monkeypatch.delenv('XDG_CONFIG_HOME', raising=False)
    assert kaggle_credentials() is None
    with pytest.raises(PermissionError, match='KAGGLE_USERNAME and KAGGLE_KEY'):
        download_dataset('intel', tmp_path/'intel')
    assert not (tmp_path/'intel').exists()
    # a kaggle.json in $KAGGLE_CONFIG_DIR or ~/.kaggle counts
    (tmp_path/'cfg').mkdir(); (tmp_path/'cfg'/'kaggle.json').write_text('{"username": "u", "key": "k"}')
    monkeypatch.setenv('KAGGLE_CONFIG_DIR', str(tmp_path/'cfg'))
    assert kaggle_credentials() == str(tmp_path/'cfg'/'kaggle.json')
    monkeypatch.delenv('KAGGLE_CONFIG_DIR')
    (tmp_path/'home'/'.kaggle').mkdir(parents=True); shutil.copy(tmp_path/'cfg'/'kaggle.json', tmp_path/'home'/'.kaggle')
    assert kaggle_credentials().endswith('.kaggle/kaggle.json')
    monkeypatch.setenv('KAGGLE_API_TOKEN', 'tok'); monkeypatch.setenv('HOME', str(tmp_path/'home2'))
    assert kaggle_credentials() == 'KAGGLE_API_TOKEN'


def test_download_no_network(tmp_path, kaggle_env, monkeypatch):
    import requests
    from kaggle.api.kaggle_api_extended import KaggleApi
    def offline(self, *a, **kw): raise requests.ConnectionError('Failed to resolve www.kaggle.com')
    monkeypatch.setattr(KaggleApi, 'dataset_download_files', offline)
    with pytest.raises(ConnectionError, match='no network'): download_dataset('imagenet70', tmp_path/'d'/'in70')
    assert list((tmp_path/'d').iterdir()) == []


def test_download_existing_dest(tmp_path, kaggle_env):
    calls, archives = kaggle_env
    dest = tmp_path/'intel'; dest.mkdir(); (dest/'junk.txt').write_text('x')
    with pytest.raises(FileExistsError, match='force=True'): download_dataset('intel', dest)
    assert (dest/'junk.txt').exists() and calls == []
    # data extracted by hand: verified in place and marked, nothing downloaded
    shutil.rmtree(dest); write_layout('intel', dest)
    assert download_dataset('intel', dest, expected=dict(train=18, test=9)) == dest
    assert (dest/VERIFIED).exists() and calls == []
    # force: replaced by a fresh download
    archives[KAGGLE_DATASETS['intel']['slug']] = _archive(tmp_path, 'intel', n_train=2, n_test=1)
    download_dataset('intel', dest, expected=dict(train=6, test=3), force=True)
    assert json.loads((dest/VERIFIED).read_text())['counts'] == dict(train=6, test=3) and len(calls) == 1
    with pytest.raises(ValueError, match='unknown dataset'): download_dataset('cifar10', tmp_path/'c')
