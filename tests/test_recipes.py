"The paper's recipes: the paper's defaults, overridable; data through `wise_dls`; checkpoints and history."
import warnings, pytest, torch, timm
from pathlib import Path
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from wisefast.paper import paper_epochs
from wisefast.recipes import scratch_224, finetune_512
from wisefast.learner import top5_accuracy
from wisefast.schedule import paper_sgd, KerasSGD
from wisefast.datasets import digits_folder

def rand_dls(size, n=2, bs=2, n_cls=3):
    ds = list(zip(torch.randn(n, 3, size, size), torch.arange(n) % n_cls))
    return DataLoaders(DataLoader(ds, bs=bs, shuffle=True, drop_last=True), DataLoader(ds, bs=bs))

def test_scratch_224_defaults():
    learn = scratch_224(rand_dls(224), train=False, n_out=3)  # ResNet-50, wise head
    head = learn.model[1]
    assert learn.model.cfg.arch == 'resnet50' and head.variant == 'wise'
    assert (head.fmap_size, head.prepool, head.grid) == ((7, 7), 2, (3, 3))
    assert learn.opt_func is paper_sgd and learn.opt.hypers[0]['mom'] == 0.9 and learn.opt.hypers[0]['wd'] == 0
    assert learn.staircase == dict(n_epoch=148, lr=0.045, factor=0.94, every=2, start_epoch=0, keras_exact=False)
    assert [m.name for m in learn.metrics] == ['accuracy', 'top5_accuracy']

def test_paper_epochs():
    assert [paper_epochs('scratch_224', d) for d in ('imagenet70', 'intel', 'mit_indoor')] == [148, 220, 200]
    assert paper_epochs('finetune_512', 'mit_indoor') == 130

def test_finetune_512_all_layers_trainable(tmp_path):
    w = tmp_path/'resnet10t.pth'
    torch.save(timm.create_model('resnet10t').state_dict(), w)
    learn = finetune_512(rand_dls(512, n=1, bs=1), arch='resnet10t', pretrained=w, train=False, n_out=3, normalize=False)
    assert (learn.model[1].prepool, learn.model[1].grid) == (3, (5, 5))
    assert learn.staircase['n_epoch'] == 130
    assert all(p.requires_grad for p in learn.model.parameters())
    assert all(len(g) for g in learn.opt.param_lists) and learn.opt.frozen_idx == 0

def test_overrides_and_keras_exact():
    learn = scratch_224(rand_dls(64), arch='resnet10t', head='gap', epochs=3, lr=0.1, factor=0.5, every=1, pool=1,
                        keras_exact=True, train=False, n_out=3)
    assert learn.model[1].variant == 'gap' and learn.opt_func is KerasSGD
    assert learn.staircase == dict(n_epoch=3, lr=0.1, factor=0.5, every=1, start_epoch=0, keras_exact=True)

def test_folder_source_uses_wise_dls_and_bs():
    learn = scratch_224(digits_folder(), arch='test_resnet', size=32, train=False, num_workers=0,
                        dls_kwargs=dict(n_per_class=(80, 10), augment=False))
    assert learn.dls.train.bs == 70 and learn.dls.c == 10
    assert learn.dls.one_batch()[0].shape[-2:] == (32, 32)

def test_resume_without_checkpoint_warns(tmp_path):
    with pytest.warns(UserWarning, match='Nothing to resume'):
        learn = scratch_224(rand_dls(32), arch='test_resnet', path=tmp_path, resume=True, train=False, n_out=3)
    assert learn.staircase['start_epoch'] == 0

def test_top5_clipped():
    assert top5_accuracy(torch.tensor([[0.2, 0.8], [0.9, 0.1]]), torch.tensor([0, 1])) == 1.
