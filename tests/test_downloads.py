"Downloads a server cannot break (wisefast.download, download_fashion_mnist) against a local server that stalls, drips, closes early, lies about its length and sends bombs; archives that do not hold their dataset."
import hashlib, os, shutil, struct, time, tracemalloc
from pathlib import Path

import pytest

from wisefast.datasets import FASHION_MNIST_SHA256, FASHION_MNIST_SIZES, download_dataset, download_fashion_mnist, read_idx, sample_path
from wisefast.download import DownloadError, download_url
from wisefast.test_utils import HostileServer, gzip_bomb, write_layout, zip_folder

NAMES = list(FASHION_MNIST_SIZES)
SAMPLE = {f: (sample_path('fashion_mnist')/f).read_bytes() for f in NAMES}
SAMPLE_SHA = {f: hashlib.sha256(b).hexdigest() for f, b in SAMPLE.items()}
BLOB = os.urandom(200_000)
FAST = dict(timeout=1, retries=0, show_progress=False)       # the guards' thresholds, scaled down to run in seconds
BOMB = gzip_bomb()


@pytest.fixture
def server():
    "A local `HostileServer`: (base URL, requests per case)"
    with HostileServer(SAMPLE, BLOB) as srv: yield srv.url, srv.hits


def _fails(fn, *match):
    "The message of the `DownloadError` or `ValueError` `fn()` raises, which says each of `match`"
    with pytest.raises((DownloadError, ValueError)) as e: fn()
    msg = str(e.value)
    assert all(m in msg for m in match), msg
    assert '\n' not in msg and 'yourself' in msg, msg                   # one line, and what to do
    return msg

def _nothing_left(d:Path, *keep):
    assert sorted(p.name for p in d.iterdir()) == sorted(keep), list(d.iterdir())


# ---------------------------------------------------------------- download_url
def test_download_and_checksum(server, tmp_path):
    base, hits = server
    f = download_url(f'{base}/ok/blob', tmp_path/'a.bin', sha256=hashlib.sha256(BLOB).hexdigest(), **FAST)
    assert f.read_bytes() == BLOB
    _fails(lambda: download_url(f'{base}/wrong/blob', tmp_path/'b.bin', sha256=hashlib.sha256(BLOB).hexdigest(), **FAST),
           f'{base}/wrong/blob: not the expected file', 'SHA-256')
    _nothing_left(tmp_path, 'a.bin')

def test_stalled_server(server, tmp_path):
    "Today: no timeout, a stalled server hangs forever. Now: `timeout` seconds without data, then the retries, then an error."
    base, hits = server
    for case in ('stall', 'silent'):
        _fails(lambda: download_url(f'{base}/{case}/blob', tmp_path/'a.bin', **dict(FAST, retries=1)),
               f'{base}/{case}/blob: no data for 1 s (the server stalled) (2 tries)')
        assert hits[case] == 2
    _nothing_left(tmp_path)

def test_drip_feeding_server(server, tmp_path):
    "Today: a NameError (fastcore's `urlretrieve`) once the drip ends. Now: less than `min_rate` bytes/s over `timeout` s is an error, not retried."
    base, hits = server
    _fails(lambda: download_url(f'{base}/drip/blob', tmp_path/'a.bin', min_rate=100, **dict(FAST, retries=2)),
           f'{base}/drip/blob: too slow', 'less than min_rate=100 bytes/s')
    assert hits['drip'] == 1
    _nothing_left(tmp_path)

def test_length_lies_and_early_close(server, tmp_path):
    base, hits = server
    _fails(lambda: download_url(f'{base}/short/blob', tmp_path/'a.bin', **dict(FAST, retries=1)),
           f'{base}/short/blob: the connection closed after 100,000 of the 200,000 bytes announced (2 tries)')
    assert hits['short'] == 2
    # more bytes than announced: the client stops at the length, the checksum tells
    _fails(lambda: download_url(f'{base}/long/blob', tmp_path/'a.bin', sha256=hashlib.sha256(BLOB).hexdigest(), **FAST),
           f'{base}/long/blob: not the expected file')
    _nothing_left(tmp_path)

def test_size_cap(server, tmp_path):
    base, hits = server
    _fails(lambda: download_url(f'{base}/ok/blob', tmp_path/'a.bin', max_size=150_000, **FAST),
           f'{base}/ok/blob: the server announces 200,000 bytes, more than max_size=150,000')
    _fails(lambda: download_url(f'{base}/nolength/blob', tmp_path/'a.bin', max_size=150_000, **FAST),
           f'{base}/nolength/blob: the server sends more than max_size=150,000 bytes')
    assert download_url(f'{base}/nolength/blob', tmp_path/'a.bin', **FAST).read_bytes() == BLOB   # no length, within the cap
    _nothing_left(tmp_path, 'a.bin')

def test_http_errors_and_retries(server, tmp_path, monkeypatch):
    base, hits = server
    _fails(lambda: download_url(f'{base}/404/blob', tmp_path/'a.bin', **dict(FAST, retries=2)), f'{base}/404/blob: HTTP 404')
    assert hits['404'] == 1                                              # not worth retrying
    monkeypatch.setattr(time, 'sleep', lambda s: None)                   # the back-off, skipped
    _fails(lambda: download_url(f'{base}/503/blob', tmp_path/'a.bin', **dict(FAST, retries=2)), 'HTTP 503', '(3 tries)')
    assert hits['503'] == 3
    assert download_url(f'{base}/flaky/blob', tmp_path/'a.bin', **dict(FAST, retries=1)).read_bytes() == BLOB
    assert hits['flaky'] == 2
    _fails(lambda: download_url('http://127.0.0.1:9/blob', tmp_path/'b.bin', **FAST), 'http://127.0.0.1:9/blob: ', 'refused')
    _nothing_left(tmp_path, 'a.bin')


# ---------------------------------------------------------------- Fashion-MNIST
def _fmnist(base, case, dest, **kw):
    return download_fashion_mnist(dest, f'{base}/{case}/', sha256=kw.pop('sha256', SAMPLE_SHA), **dict(FAST, **kw))

def test_fashion_mnist_download(server, tmp_path):
    base, _ = server
    d = _fmnist(base, 'ok', tmp_path/'fm')
    assert {f: (d/f).read_bytes() for f in NAMES} == SAMPLE and len(read_idx(d/NAMES[0])) == 3000
    _nothing_left(tmp_path, 'fm')

@pytest.mark.parametrize('case,sha256,match', [
    ('wrong', SAMPLE_SHA, 'not the expected file'),                                   # other bytes: the checksum
    ('wrong', None, 'not the expected file'),                                         # the official checksums by default
    ('truncgz', SAMPLE_SHA, 'not the expected file'),
    ('truncgz', {}, 'damaged or truncated gzip data'),                                # unchecked: the gzip reader names it
    ('bomb', dict(SAMPLE_SHA, **{NAMES[0]: hashlib.sha256(BOMB).hexdigest()}), 'more data than its shape (60000, 28, 28)'),
    ('drip', SAMPLE_SHA, 'too slow')])
def test_fashion_mnist_download_failures(server, tmp_path, case, sha256, match):
    "Each failure names the URL of the file and what to do, and leaves nothing behind (today: `EOFError` naming no file, or a 2.9 GB bomb inflated)"
    base, _ = server
    _fails(lambda: _fmnist(base, case, tmp_path/'fm', sha256=sha256, min_rate=100), f'{base}/{case}/{NAMES[0]}', match)
    _nothing_left(tmp_path)

def test_gzip_bomb_memory(server, tmp_path):
    "A bomb of 320 MB of zeros is refused after the 47 MB its header announces, never inflated whole"
    base, _ = server
    tracemalloc.start()
    try: _fails(lambda: _fmnist(base, 'bomb', tmp_path/'fm', sha256={}), 'more data than its shape')
    finally: peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    assert 47_000_000 < peak < 100_000_000, peak                  # the shape it announces, read once; not the 320 MB
    _nothing_left(tmp_path)

def test_official_sizes_and_checksums(full_fashion_mnist):
    """`FASHION_MNIST_SIZES` and `FASHION_MNIST_SHA256` are the official files': the Debian package's copies, given back the
    gzip header that strip-nondeterminism normalised (the file name, the time it was written), have the MD5s of the dataset's README"""
    readme_md5 = {'train-images-idx3-ubyte.gz': '8d4fb7e6c68d591d4c3dfef9ec88bf0d', 'train-labels-idx1-ubyte.gz': '25c81989df183df01b3e8a0aad5dffbe',
                  't10k-images-idx3-ubyte.gz': 'bef4ecab320f06d8554ea6380940ec79', 't10k-labels-idx1-ubyte.gz': 'bb300cfdad3c16e7a12a480ee83cd310'}
    mtime = {'train': 1504176606, 't10k': 1504176627}                   # 2017-08-31, the official files' gzip headers
    for f, md5 in readme_md5.items():
        raw = (full_fashion_mnist/f).read_bytes()
        if not raw[3] & 0x08:                                            # no file name in the header: Debian's copy
            raw = b'\x1f\x8b\x08\x08' + struct.pack('<I', mtime[f.split('-')[0]]) + raw[8:10] + f[:-3].encode() + b'\0' + raw[10:]
        assert hashlib.md5(raw).hexdigest() == md5, f
        assert len(raw) == FASHION_MNIST_SIZES[f] and hashlib.sha256(raw).hexdigest() == FASHION_MNIST_SHA256[f], f


# ---------------------------------------------------------------- an archive that does not hold its dataset
def test_archive_with_wrong_layout_named(tmp_path):
    "Today: 'no intel layout found in the archive', or a FileNotFoundError naming a deleted temporary folder"
    (tmp_path/'data').mkdir()
    z = zip_folder(write_layout('mit_indoor', tmp_path/'mit'), tmp_path/'mit.zip')
    with pytest.raises(FileNotFoundError) as e: download_dataset('intel', tmp_path/'data'/'intel', archive=z)
    assert str(e.value).startswith(f"{z} does not hold the intel dataset: expected seg_train/seg_train/<class>/*.jpg and seg_test")
    shutil.rmtree(write_layout('intel', tmp_path/'i'/'intel-image-classification')/'seg_test')   # half of the layout
    z = zip_folder(tmp_path/'i', tmp_path/'half.zip')
    with pytest.raises(FileNotFoundError) as e: download_dataset('intel', tmp_path/'data'/'intel', archive=z)
    assert str(e.value).startswith(f"{z}: no seg_test folder (expected seg_train/seg_train/") and '.intel-' not in str(e.value)
    z = zip_folder(write_layout('intel', tmp_path/'small'), tmp_path/'small.zip')
    with pytest.raises(ValueError, match=f"^{z}: found .* expected"): download_dataset('intel', tmp_path/'data'/'intel', archive=z)
    assert list((tmp_path/'data').iterdir()) == []
