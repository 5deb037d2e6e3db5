"Head comparisons: resuming an interrupted comparison, the `wisefast compare` command, the paper script's smoke mode."
import json, os, re, runpy, sys
from pathlib import Path
import pandas as pd, pytest
from fastai.callback.core import Callback
from wisefast.data import wise_dls
from wisefast.test_utils import write_class_folders
from wisefast.experiments import compare_heads, TABLE_COLS

os.environ.setdefault('MPLBACKEND', 'Agg')
ROOT = Path(__file__).resolve().parents[1]

class Interrupt(Callback):
    "Stop the run at the start of epoch `at` (as a crash or Ctrl-C would)."
    def __init__(self, at:int): self.at = at
    def before_epoch(self):
        if self.epoch == self.at: raise KeyboardInterrupt(f"interrupted at epoch {self.at}")

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp('data')
    write_class_folders(d, classes=('a', 'b', 'c'), n=6, size=(24, 24))
    return d

def test_compare_resumes(data, tmp_path):
    dls = wise_dls(data, size=32, bs=4, valid_pct=0.34, num_workers=0, seed=1)
    compare_heads(dls, 'test_resnet', heads=['gap'], epochs=2, lr=0.01, seed=1, out=tmp_path)
    with pytest.raises(KeyboardInterrupt):                       # wise stops at the start of its second epoch
        compare_heads(dls, 'test_resnet', heads=['gap', 'wise'], epochs=2, lr=0.01, seed=1, out=tmp_path,
                      cbs=[Interrupt(1)])
    assert (tmp_path/'gap'/'result.json').exists() and not (tmp_path/'wise'/'result.json').exists()
    assert (tmp_path/'wise'/'models'/'last.pth').exists()
    gap_done = (tmp_path/'gap'/'result.json').stat().st_mtime_ns
    df = compare_heads(dls, 'test_resnet', heads=['gap', 'wise'], epochs=2, lr=0.01, seed=1, out=tmp_path)  # resumes: gap skipped, wise continues at epoch 1
    assert (tmp_path/'gap'/'result.json').stat().st_mtime_ns == gap_done
    hist = pd.read_csv(tmp_path/'wise'/'history.csv')
    assert hist.epoch.tolist() == [0, 1]
    assert df.columns.tolist() == list(TABLE_COLS) and df.variant.tolist() == ['gap', 'wise']
    assert json.loads((tmp_path/'wise'/'result.json').read_text())['epochs'] == 2
    for f in ('results.csv', 'results.md', 'curves.png'): assert (tmp_path/f).exists()

def test_cli_compare(data, tmp_path, capsys):
    from wisefast.cli import main
    rc = main(['compare', str(data), '--arch', 'test_resnet', '--heads', 'fastai', '--epochs', '1', '--size', '32',
               '--bs', '4', '--lr', '0.01', '--workers', '0', '--out', str(tmp_path)])
    assert rc == 0
    assert re.search(r'\| fastai +\|', capsys.readouterr().out)
    assert pd.read_csv(tmp_path/'results.csv').variant.tolist() == ['fastai']
    assert (tmp_path/'fastai'/'export.pkl').exists()                 # for `wisefast predict` and `gradcam`

def test_paper_gpu_smoke(tmp_path, monkeypatch):
    "The GPU reproduction script's code path (fake Kaggle archive → download_dataset → compare_heads → paper table)."
    monkeypatch.setattr(sys, 'argv', ['paper_gpu.py'])
    mod = runpy.run_path(str(ROOT/'recipes'/'paper_gpu.py'))
    res = mod['main'](['--smoke', '--tables', 'table6', '--archs', 'resnet50', '--out', str(tmp_path)])
    assert res['head'].tolist() == ['gap', 'dw_nonneg', 'avg_dw_nonneg']
    assert res.paper_top1.tolist() == [.8203, .8713, .8773]
    assert res.top1.between(0, 1).all() and res.head_params[0] == res.paper_head_params[0]   # GAP: C·K + K
    assert (tmp_path/'paper_comparison.md').exists() and (tmp_path/'table6'/'resnet50'/'curves.png').exists()

def test_one_cycle_resume_matches_uninterrupted(data, tmp_path):
    "schedule='one_cycle': a head named with :default, interrupted after its first epoch and resumed, ends where an uninterrupted run ends"
    dls = wise_dls(data, size=32, bs=4, valid_pct=0.34, num_workers=0, seed=1, augment=False)
    kw = dict(heads=['wise:default'], epochs=2, lr=0.01, seed=1, schedule='one_cycle')
    ref = compare_heads(dls, 'test_resnet', out=tmp_path/'ref', **kw)
    with pytest.raises(KeyboardInterrupt):
        compare_heads(dls, 'test_resnet', out=tmp_path/'cut', cbs=[Interrupt(1)], **kw)
    df = compare_heads(dls, 'test_resnet', out=tmp_path/'cut', **kw)
    assert df.variant.tolist() == ['wise:default'] and (tmp_path/'cut'/'wise-default'/'export.pkl').exists()
    a, b = (pd.read_csv(tmp_path/d/'wise-default'/'history.csv') for d in ('ref', 'cut'))
    assert b.epoch.tolist() == [0, 1]
    assert abs(a.valid_loss.iloc[-1] - b.valid_loss.iloc[-1]) < 1e-5    # the same model (fastai's smoothed train loss restarts)
    cfg = json.loads((tmp_path/'cut'/'wise-default'/'result.json').read_text())['config']
    assert cfg['schedule'] == 'one_cycle'
    with pytest.raises(ValueError, match='other settings'):          # the same folder, the paper's staircase: refused
        compare_heads(dls, 'test_resnet', out=tmp_path/'cut', **{**kw, 'schedule': 'staircase'})
    other = wise_dls(data, size=32, bs=4, valid_pct=0.5, num_workers=0, seed=1, augment=False)
    with pytest.raises(ValueError, match="other settings.*'n_valid'"):  # other images, e.g. another --n-per-class: refused
        compare_heads(other, 'test_resnet', out=tmp_path/'cut', **kw)

class InterruptAt(Callback):
    "Stop the run when its `n`-th epoch starts, counting over every fit (fastai's `fine_tune` fits twice)"
    def __init__(self, n:int): self.n, self.seen = n, 0
    def before_epoch(self):
        self.seen += 1
        if self.seen > self.n: raise KeyboardInterrupt(f"interrupted after {self.n} epochs")

def test_fine_tune_resumes_in_its_second_fit(data, tmp_path):
    "`schedule='fine_tune'`: fastai's two fits, killed in the second and resumed, end as an uninterrupted run, history and all"
    from wisefast.experiments import train_variant
    dls = wise_dls(data, size=32, bs=4, valid_pct=0.34, num_workers=0, seed=1)
    kw = dict(epochs=4, lr=0.01, seed=1, schedule='fine_tune')
    full = train_variant(dls, 'test_resnet', 'wise', tmp_path/'full', **kw)
    with pytest.raises(KeyboardInterrupt): train_variant(dls, 'test_resnet', 'wise', tmp_path/'cut', cbs=[InterruptAt(2)], **kw)
    assert pd.read_csv(tmp_path/'cut'/'history.csv').epoch.tolist() == [0, 1]   # the frozen epoch, then one of the second fit
    again = train_variant(dls, 'test_resnet', 'wise', tmp_path/'cut', **kw)
    h1, h2 = (pd.read_csv(tmp_path/d/'history.csv').drop(columns='time') for d in ('full', 'cut'))
    pd.testing.assert_frame_equal(h2, h1)
    assert h1.epoch.tolist() == [0, 1, 2, 3] and again['last_top1'] == full['last_top1']
