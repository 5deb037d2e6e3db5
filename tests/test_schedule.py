"The staircase is exact at every batch for any epoch/batch count, with resuming, discriminative lrs and Keras mode."
import numpy as np, torch, pytest
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import MSELossFlat
from fastai.test_utils import synth_dbunch, RegModel
from wisefast.schedule import SchedStaircase, KerasSGD, paper_sgd

def fastai_pcts(n_epoch, n_iter):
    "The `pct_train` fastai's `TrainEvalCallback` gives each training batch, float rounding included."
    for e in range(n_epoch):
        pct = e/n_epoch
        for i in range(n_iter):
            yield e, i, pct
            pct += 1./(n_iter*n_epoch)

@pytest.mark.parametrize('n_epoch', [1, 2, 3, 7, 10, 13, 29, 130, 148, 200, 220])
@pytest.mark.parametrize('n_iter', [1, 3, 77, 450])
def test_staircase_exact_every_batch(n_epoch, n_iter):
    f = SchedStaircase(0.045, 0.94, 2, n_epoch)
    bad = [(e, i) for e, i, pct in fastai_pcts(n_epoch, n_iter) if f(pct) != 0.045*0.94**(e//2)]
    assert not bad, bad[:5]

@pytest.mark.parametrize('n_epoch,n_iter,decay', [(4, 11, 20), (148, 450, 900), (10, 77, 150)])
def test_keras_steps_exact(n_epoch, n_iter, decay):
    f = SchedStaircase(0.045, 0.94, decay, n_epoch*n_iter)
    assert all(f(pct) == 0.045*0.94**((e*n_iter+i)//decay) for e, i, pct in fastai_pcts(n_epoch, n_iter))

def synth(n_trn=5, opt_func=paper_sgd, **kw):
    return Learner(synth_dbunch(n_train=n_trn), RegModel(), loss_func=MSELossFlat(), opt_func=opt_func, **kw)

class EpochLRs(Callback):
    "lr of each parameter group at the first and last batch of every epoch."
    def __init__(self): self.rows = []
    def before_step(self):
        if self.iter in (0, self.n_iter-1): self.rows.append((self.epoch, self.iter, [float(h['lr']) for h in self.opt.hypers]))

@pytest.mark.parametrize('n_epoch', [1, 4, 9])
def test_fit_staircase_boundaries(n_epoch):
    learn, rec = synth(), EpochLRs()
    learn.fit_staircase(n_epoch, cbs=rec)
    assert [r[0] for r in rec.rows] == [e for e in range(n_epoch) for _ in range(2)]
    assert all(lrs == [0.045*0.94**(e//2)] for e, _, lrs in rec.rows)

def test_start_epoch_continues_same_sequence():
    full, part = EpochLRs(), EpochLRs()
    synth().fit_staircase(9, cbs=full)
    learn = synth()
    learn.fit_staircase(9, start_epoch=5, cbs=part)
    assert part.rows == [r for r in full.rows if r[0] >= 5]
    assert len(learn.recorder.values) == 4

def test_discriminative_lrs_scaled_per_group():
    rec = EpochLRs()
    learn = synth(splitter=lambda m: [[m.a], [m.b]])
    learn.fit_staircase(5, lr=np.array([0.001, 0.01]), cbs=rec)
    for e, _, lrs in rec.rows: np.testing.assert_allclose(lrs, [0.001*0.94**(e//2), 0.01*0.94**(e//2)], rtol=1e-15)

def test_keras_momentum_matches_hand_computation():
    "Keras: v = m*v - lr*g; w += v; with g = w (loss w²/2), m = 0.9 and a decaying lr."
    w = torch.tensor([1.0], requires_grad=True)
    opt = KerasSGD([w], lr=0.1)
    ww, v = 1.0, 0.0
    for lr in (0.1, 0.1, 0.05, 0.05, 0.025):
        opt.set_hyper('lr', lr)
        w.grad = w.detach().clone(); opt.step()
        v = 0.9*v - lr*ww; ww += v
        assert w.item() == pytest.approx(ww, rel=1e-6)

def test_keras_exact_fit_steps_and_partial_batch():
    x, y = torch.randn(165, 1), torch.randn(165, 1)
    dls = DataLoaders(DataLoader(list(zip(x, y)), bs=16, shuffle=True, drop_last=True), synth_dbunch().valid)
    learn = Learner(dls, RegModel(), loss_func=MSELossFlat(), opt_func=paper_sgd)
    learn.fit_staircase(3, keras_exact=True)
    lrs = learn.recorder.hps['lr']
    assert len(lrs) == 3*11  # ceil(165/16) steps per epoch, as Keras
    assert lrs == [0.045*0.94**(s//20) for s in range(33)]  # decay_steps = 2*floor(165/16)
    assert learn.opt_func is KerasSGD and dls.train.drop_last
