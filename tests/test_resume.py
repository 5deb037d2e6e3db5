"Killed mid-epoch and resumed, a run ends exactly where an uninterrupted one does."
import os, torch, pytest
import numpy as np
from sklearn.datasets import load_digits
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from wisefast.recipes import scratch_224
from wisefast.schedule import paper_sgd
from wisefast.callbacks import save_checkpoint, load_checkpoint
from fastai.learner import Learner

class Killed(Exception): pass

class KillAt(Callback):
    "Raise `Killed` after `n` training batches of `epoch`, like a process killed mid-epoch."
    def __init__(self, epoch, n): self.at = (epoch, n)
    def after_batch(self):
        if self.training and (self.epoch, self.iter+1) == self.at: raise Killed(f"killed at epoch {self.epoch}")

class LRLog(Callback):
    "Record (epoch, iter, lr) of every training batch."
    order = -5  # before `KillAt`
    def __init__(self): self.lrs = []
    def after_batch(self):
        if self.training: self.lrs.append((self.epoch, self.iter, float(self.opt.hypers[0]['lr'])))

def digits_dls(n_train=200, n_valid=60, size=32, bs=20):
    "sklearn digits upscaled to `size` px, 3 channels, shuffled training loader, no workers."
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32).view(-1, 1, 8, 8) / 16
    x = torch.nn.functional.interpolate(x, size=size).expand(-1, 3, -1, -1).contiguous()
    y = torch.tensor(y)
    ds = lambda a, b: list(zip(x[a:b], y[a:b]))
    return DataLoaders(DataLoader(ds(0, n_train), bs=bs, shuffle=True, drop_last=True),
                       DataLoader(ds(n_train, n_train+n_valid), bs=bs))

def run(path, cbs=(), resume=False, epochs=4):
    log = LRLog()
    try: learn = scratch_224(digits_dls(), arch='test_resnet', epochs=epochs, lr=0.05, path=path, seed=0, n_out=10,
                             resume=resume, cbs=[log, *cbs])
    except Killed: learn = None
    return learn, log.lrs

def test_resume_matches_uninterrupted(tmp_path):
    full, lrs_full = run(tmp_path/'full')
    killed, lrs_killed = run(tmp_path/'resumed', cbs=[KillAt(epoch=2, n=3)])
    assert killed is None and lrs_killed[-1][:2] == (2, 2)
    resumed, lrs_resumed = run(tmp_path/'resumed', resume=True)
    assert lrs_resumed[0][:2] == (2, 0)  # restarted at the start of the killed epoch
    lrs = [o for o in lrs_killed if o[0] < 2] + lrs_resumed
    assert lrs == lrs_full
    assert sorted({lr for *_, lr in lrs_full}) == sorted({0.05*0.94**(e//2) for e in range(4)})
    sd_full, sd_res = full.model.state_dict(), resumed.model.state_dict()
    assert sd_full.keys() == sd_res.keys()
    for k in sd_full: assert torch.equal(sd_full[k], sd_res[k]), k
    hist = (tmp_path/'resumed'/'history.csv').read_text().splitlines()
    assert [l.split(',')[0] for l in hist] == ['epoch', '0', '1', '2', '3']

def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    learn = Learner(digits_dls(n_train=40, n_valid=20), torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3*32*32, 10)),
                    loss_func=torch.nn.CrossEntropyLoss(), opt_func=paper_sgd, path=tmp_path)
    learn.fit(1, 0.01)
    good = save_checkpoint(learn, 'last', epoch=0)
    before = good.read_bytes()
    def dying_save(obj, f, *a, **k):
        f.write(b'partial garbage'); raise KeyboardInterrupt("killed while writing")
    monkeypatch.setattr(torch, 'save', dying_save)
    with pytest.raises(KeyboardInterrupt): save_checkpoint(learn, 'last', epoch=1)
    monkeypatch.undo()
    assert good.read_bytes() == before
    assert load_checkpoint(learn, 'last')['epoch'] == 0
