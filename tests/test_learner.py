"""Core tests: the paper's parameter counts, output shapes across timm backbones, the constraint, training.

export → load_learner in a fresh process is tested in test_export.py."""
import numpy as np, pytest, torch, timm
from fastai.vision.all import *
from wisefast.heads import *
from wisefast.models import *
from wisefast.learner import *
from helpers import image_folder

from wisefast.paper import PAPER_TABLES

# Paper Tables 1 and 5 (Keras, 70 classes, 224 px): base, +GAP, +DW 7x7, +Avg(2)+DW 3x3
def _table1(keras_name, C, K=70):
    totals = {v: n for v, n, *_ in PAPER_TABLES['table5']['rows'][keras_name]}
    return (totals['gap'] - (C*K + K), totals['gap'], totals['dw'], totals['wise'])
TABLE1 = {'resnet50': _table1('ResNet50', 2048), 'xception': _table1('Xception', 2048), 'densenet121': _table1('DenseNet121', 1024)}

@pytest.mark.parametrize('arch', list(TABLE1))
def test_whole_model_totals_beside_paper(arch):
    base, *paper = TABLE1[arch]
    body = create_timm_body(arch)
    nb = num_params(body)
    print(f"\n{arch:12} timm base {nb:>11,} | Keras base {base:>11,}")
    for variant, p_total in zip(('gap', 'dw', 'wise'), paper):
        m = create_wise_model(arch, 70, size=224, head=variant)
        total, head = num_params(m), num_params(m[1])
        print(f"  {variant:5} total {total:>11,} (paper {p_total:>11,}) head {head:>9,} (paper {p_total - base:>9,})")
        assert head == p_total - base                       # the head is exactly the paper's
        assert num_params(m[0]) == nb

SHAPES = [('resnet50', 224, 2048, 7, 2, 3), ('resnet50', 512, 2048, 16, 3, 5), ('resnetv2_50', 224, 2048, 7, 2, 3),
          ('densenet121', 224, 1024, 7, 2, 3), ('efficientnet_b0', 512, 1280, 16, 3, 5),
          ('inception_v3', 224, 2048, 5, 1, 5), ('inception_v3', 299, 2048, 8, 2, 4), ('legacy_xception', 224, 2048, 7, 2, 3)]

@pytest.mark.parametrize('arch,size,nf,fm,pool,grid', SHAPES)
def test_output_shapes(arch, size, nf, fm, pool, grid):
    m = create_wise_model(arch, 7, size=size).eval()
    assert m.cfg.fmap_size == (fm, fm) and m.cfg.nf == nf
    assert m[1].prepool == pool and m[1].grid == (grid, grid)
    with torch.no_grad():
        x = torch.randn(2, 3, size, size)
        feats = m.forward_features(x)
        assert feats.shape == (2, nf, fm, fm)
        assert m.forward_head(feats, pre_logits=True).shape == (2, nf)
        assert m(x).shape == (2, 7)

def test_flexible_resolution():
    m = create_wise_model('resnet18', 5, size=224, flexible=True).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 3, 320, 320)).shape == (1, 5)
        x = torch.randn(1, 3, 224, 224)     # at the trained size: exactly the reference AvgPool2d(2)
        f = m.forward_features(x)
        ref = m[1].fc(torch.flatten(m[1].spatial(torch.nn.AvgPool2d(2)(f)), 1))
        assert torch.allclose(m(x), ref, atol=1e-6)
    with pytest.raises(ValueError, match='flexible=True'):
        create_wise_model('resnet18', 5, size=224)(torch.randn(1, 3, 320, 320))

def test_small_map_error_and_unknown_arch():
    with pytest.raises(ValueError, match='too small'): create_wise_model('resnet18', 5, size=64, pool=3)
    with pytest.raises(ValueError, match='Close matches: .*densenet121'): create_timm_body('densenet12l')
    with pytest.raises(ValueError, match='cannot lay them out'): create_wise_model('pit_ti_224', 5, size=64)   # pooled tokens

def test_local_weights_file(tmp_path):
    from safetensors.torch import save_file
    src = timm.create_model('resnet18', num_classes=1000)
    torch.save(src.state_dict(), tmp_path/'w.pth')
    save_file(src.state_dict(), tmp_path/'w.safetensors')
    for f in ('w.pth', 'w.safetensors'):
        body = create_timm_body('resnet18', pretrained=tmp_path/f)
        assert torch.equal(body.model.conv1.weight, src.conv1.weight)
    with pytest.raises(FileNotFoundError, match='not found'): create_timm_body('resnet18', pretrained=tmp_path/'nope.pth')
    # another architecture's weights: refused, not silently a model trained from scratch (timm only logs 'Unexpected keys')
    torch.save(timm.create_model('test_vit').state_dict(), tmp_path/'vit.pth')
    with pytest.raises(ValueError, match="holds 0 of the .* tensors of resnet18"): create_timm_body('resnet18', pretrained=tmp_path/'vit.pth')
    torch.save(create_timm_body('resnet18').state_dict(), tmp_path/'body.pth')   # a wisefast body's names: `model.` first
    with pytest.raises(ValueError, match=r"wisefast body's .*learn.model\[0\].model.state_dict\(\)"):
        create_timm_body('resnet18', pretrained=tmp_path/'body.pth')
    sd = src.state_dict(); del sd['layer4.1.bn2.weight']
    torch.save({'state_dict': sd}, tmp_path/'part.pth')                       # timm's checkpoint layout, one tensor short
    with pytest.warns(UserWarning, match=r"lacks 1 of the .* tensors of resnet18 \(e.g. \['layer4.1.bn2.weight'\]\)"):
        create_timm_body('resnet18', pretrained=tmp_path/'part.pth')

@pytest.fixture(scope='module')
def dls(tmp_path_factory):
    path, _ = image_folder(tmp_path_factory.mktemp('imgs'), n_per_class=60)
    return ImageDataLoaders.from_folder(path, valid_pct=0.25, seed=0, item_tfms=Resize(32), bs=32, num_workers=0)

class RecordConstraint(Callback):
    "Record, per batch, whether the constrained kernel had negative entries before the forward and after the step."
    order = 70
    def before_fit(self): self.before, self.after, self.steps = [], [], 0
    def before_batch(self):
        if self.training: self.before.append(bool((self.learn.model[1].spatial.weight < 0).any()))
    def after_step(self):
        self.steps += 1
        self.after.append(self.learn.model[1].spatial.weight.min().item())

@pytest.mark.parametrize('extra', ['none', 'grad_accum', 'mixed_precision'])
def test_constraint_after_every_step(dls, extra):
    set_seed(0)
    learn = wise_learner(dls, 'resnet18', pretrained=False, head='wise', init='paper', opt_func=partial(SGD, mom=0.9), lr=0.05)
    rec = RecordConstraint()
    cbs = [rec] + ([GradientAccumulation(n_acc=64)] if extra == 'grad_accum' else [])
    if extra == 'mixed_precision': learn.to_fp16()
    with learn.no_logging(), learn.no_bar(): learn.fit(1, cbs=cbs)
    assert rec.before[0]                       # first forward sees the raw N(0, .01) kernel, negatives included
    assert rec.steps > 0 and min(rec.after) >= 0
    if extra != 'grad_accum':                  # every step is followed by the projection
        assert not any(rec.before[1:])
    else:                                      # bs 32, n_acc 64: one real step every second batch
        n_batches = len(dls.train)
        assert rec.steps == n_batches // 2
        assert rec.before[1]                   # no step yet after the first batch: still the raw kernel

def test_nonneg_only_for_constrained_variants(dls):
    for v, has in [('gap', False), ('dw', False), ('dw_nonneg', True), ('avg_dw_nonneg', True), ('wise', True)]:
        learn = wise_learner(dls, 'resnet18', pretrained=False, head=v)
        assert any(isinstance(cb, NonNegCallback) for cb in learn.cbs) == has

def test_head_not_reinitialised(dls):
    "fastai keeps the head's own init: the reference's with init='paper', a GAP start by default"
    assert torch.allclose(wise_learner(dls, 'resnet18', pretrained=False).model[1].spatial.kernel, torch.tensor(1.))   # 1×1 grid: weight 1
    learn = wise_learner(dls, 'resnet18', pretrained=False, head='wise', init='paper')
    h = learn.model[1]
    assert abs(h.fc.weight.std().item() - 0.01) < 2e-3 and h.fc.bias.abs().sum() == 0 and h.spatial.bias.abs().sum() == 0

def test_freeze_unfreeze(dls):
    learn = wise_learner(dls, 'resnet18', pretrained=False)
    learn.freeze()
    bn = {id(p) for m in learn.model[0].modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    body_trainable = [p for p in learn.model[0].parameters() if p.requires_grad]
    assert body_trainable and all(id(p) in bn for p in body_trainable)          # fastai's train_bn=True
    assert all(p.requires_grad for p in learn.model[1].parameters())
    learn.unfreeze()
    assert all(p.requires_grad for p in learn.model.parameters())

def test_real_training_run(tmp_path):
    "A small real run on CPU: loss falls and accuracy is far above chance (10 classes: 0.1)."
    path, name = image_folder(tmp_path/'data', n_per_class=150)
    set_seed(42, reproducible=True)
    dls = ImageDataLoaders.from_folder(path, valid_pct=0.2, seed=42, item_tfms=Resize(64), bs=64, num_workers=0)
    learn = wise_learner(dls, 'resnet18', pretrained=False, head='wise', metrics=accuracy)
    with learn.no_bar(): learn.fit_one_cycle(4, 3e-3)
    losses = [v[0] for v in learn.recorder.values]
    val_loss, acc = learn.recorder.values[-1][1], learn.recorder.values[-1][2]
    print(f"\n{name}: train loss per epoch {[round(l, 3) for l in losses]}, valid loss {val_loss:.3f}, accuracy {acc:.3f}")
    assert losses[-1] < 0.7 * losses[0]
    assert acc > 0.5

def test_fastai_api(dls):
    "lr_find, summary, predict and show_results work on a wise_learner like on a vision_learner."
    import matplotlib; matplotlib.use('Agg')
    learn = wise_learner(dls, 'resnet18', pretrained=False, head='wise', metrics=accuracy)
    with learn.no_bar():
        res = learn.lr_find(num_it=6, show_plot=False)
        assert res.valley > 0
        summary = learn.summary()
        assert f'Total params: {num_params(learn.model):,}' in summary
        fc = [m for m in learn.model[1].modules() if isinstance(m, nn.Linear)][-1]
        assert f'x {dls.c}' in summary and f' {num_params(fc)} ' in summary   # the head's classifier: output, params
        cls, idx, probs = learn.predict(dls.valid_ds.items[0])
        assert probs.shape == (dls.c,) and abs(float(probs.sum()) - 1) < 1e-5
        assert cls == dls.vocab[int(idx)]
        plt.close('all')
        learn.show_results(max_n=2)
        titles = [ax.get_title() for ax in plt.gcf().axes if ax.images]
        assert len(titles) == 2 and all('\n' in t for t in titles)              # target and prediction per image
        plt.close('all')

def test_pretrained_offline_error(tmp_path, monkeypatch):
    "Offline with an empty Hugging Face cache (whatever this machine holds): a ConnectionError saying what to do"
    import huggingface_hub.constants as hf
    monkeypatch.setattr(hf, 'HF_HUB_CACHE', str(tmp_path/'hf')); monkeypatch.setattr(hf, 'HF_HUB_OFFLINE', True)
    with pytest.raises(ConnectionError, match=r"Offline\? .*pretrained='path/to/resnet18.safetensors'"):
        create_timm_body('resnet18', pretrained=True)
