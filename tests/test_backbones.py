"Every timm family: the head reads the backbone's real layout (channels-last maps, transformer tokens) at two sizes."
import inspect, warnings
import pytest, torch, timm
from torch import nn
from wisefast.paper import HEAD_VARIANTS
from wisefast.heads import nonneg_params
from wisefast.models import create_wise_model, create_timm_body, TimmFeatures, BACKBONE_FAMILIES

# two image sizes per family that give at least a 2×2 map
SIZES = {'Inception-v3': (128, 160), 'EVA-02': (56, 112), 'LeViT': (128, 192), 'EfficientViT (MSRA)': (96, 128)}
FAMILIES = [(f, arch, SIZES.get(f, (64, 96))) for f, arch in BACKBONE_FAMILIES.items()]
IDS = [f for f, *_ in FAMILIES]

def _timm_grid(model, x):
    "Spatial size of the last map timm's own `forward_intermediates` gives, laid out NCHW by timm itself"
    kw = dict(indices=1, intermediates_only=True)
    if 'output_fmt' in inspect.signature(model.forward_intermediates).parameters: kw['output_fmt'] = 'NCHW'
    with torch.no_grad(): return tuple(model.forward_intermediates(x, **kw)[-1].shape[-2:])

def _dls(size:int):
    "DataLoaders of 8 real Fashion-MNIST images of two classes at `size` px, batches of 2, as `wise_dls` makes them (channels-last)"
    from wisefast.data import wise_dls
    from helpers import real_images
    X, y, _ = real_images(4)
    items = [(x, str(c)) for x, c in zip(X, y) if c < 2]                 # 4 of class 0, then 4 of class 1
    return wise_dls(dict(train=items[:3] + items[4:7], valid=[items[3], items[7]]), size=size, bs=2, augment=False, num_workers=0)

@pytest.mark.parametrize('family,arch,sizes', FAMILIES, ids=IDS)
def test_family(family, arch, sizes):
    "Each family at two sizes: the head's width and grid are timm's, and it trains on real batches, as `wise_learner` feeds them"
    from wisefast.learner import wise_learner
    for size in sizes:
        dls = _dls(size)
        assert dls.one_batch()[0].is_contiguous(memory_format=torch.channels_last)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            learn = wise_learner(dls, arch, pretrained=False, head='wise')
        m = learn.model
        tm = m[0].model
        nf, (h, w) = m.cfg.nf, m.cfg.fmap_size
        # the head's width is timm's: its `num_features` (or the width of the pre-logits layer it runs on the map)
        assert nf in (tm.num_features, getattr(tm, 'head_hidden_size', None)), (nf, tm.num_features)
        assert m[1].num_features == nf and (h, w) >= (2, 2)
        x = torch.randn(1, 3, size, size)
        assert _timm_grid(tm, x) == (h, w), f"{arch} at {size} px: timm's grid {_timm_grid(tm, x)}, the head's {(h, w)}"
        before = m[1].fc.weight.detach().clone()
        grads = []
        hook = m[0].register_full_backward_hook(lambda mod, gi, go: grads.append(go[0]))
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 0.1)          # 3 steps on channels-last batches
        hook.remove()
        assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
        assert not torch.equal(before, m[1].fc.weight)          # the gradient reached the head, and the backbone

def test_contiguous_batches_for_families_that_crash_on_channels_last():
    "FastViT's CPU kernels crash on channels-last input: `wise_learner` gives its model contiguous batches"
    from wisefast.learner import wise_learner, ContiguousBatches
    learn = wise_learner(_dls(64), 'fastvit_t8', pretrained=False)
    assert any(isinstance(cb, ContiguousBatches) for cb in learn.cbs)
    seen = []
    hook = learn.model.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].is_contiguous()))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    hook.remove()
    assert seen and all(seen)
    assert not any(isinstance(cb, ContiguousBatches) for cb in wise_learner(_dls(64), 'resnet10t', pretrained=False).cbs)

FASTVIT_RUN = """
import warnings, torch; warnings.simplefilter('ignore'); torch.set_num_threads(2); torch.manual_seed({seed})
from wisefast.data import wise_dls
from wisefast.learner import wise_learner
x = (torch.rand(160, 96, 96, 3) * 255).to(torch.uint8).numpy()
items = [(a, str(i % 10)) for i, a in enumerate(x)]
dls = wise_dls(dict(train=items[:128], valid=items[128:]), size=96, bs=32, augment=False, num_workers=0)
learn = wise_learner(dls, 'fastvit_t8', pretrained=False, head='wise')
with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-3)
print('trained')
"""

@pytest.mark.extended
def test_fastvit_trains_without_crashing():
    "Five runs of 12 steps (96 px, batches of 32, 2 threads: where channels-last input crashed 4 runs in 4), each in a subprocess"
    import subprocess, sys
    for seed in range(5):
        r = subprocess.run([sys.executable, '-c', FASTVIT_RUN.format(seed=seed)], capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0 and 'trained' in r.stdout, (seed, r.returncode, r.stderr[-500:])

@pytest.mark.parametrize('arch', ['swin_tiny_patch4_window7_224', 'vit_tiny_patch16_224', 'deit_tiny_distilled_patch16_224'])
def test_layout_is_timms(arch):
    "Channels-last maps and tokens reach the head as timm lays them out (its `forward_intermediates`, normed), value for value"
    m = create_wise_model(arch, 3, size=64).eval()
    tm, x = m[0].model, torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = tm.forward_intermediates(x, indices=1, norm=True, output_fmt='NCHW', intermediates_only=True)[-1]
        torch.testing.assert_close(m.forward_features(x), ref)

@pytest.mark.parametrize('arch', ['swin_tiny_patch4_window7_224', 'vit_tiny_patch16_224'])
@pytest.mark.parametrize('head', HEAD_VARIANTS)
def test_every_head_on_transformer_maps(arch, head):
    "Swin's 7×768 misreading is gone: every head is built on the channels, never on a spatial axis"
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = create_wise_model(arch, 4, size=64, head=head)
    nf, (h, w), fc = m.cfg.nf, m.cfg.fmap_size, m.get_classifier()
    assert nf == (192 if 'vit' in arch else 768)                # embed_dim, never a spatial axis
    if head == 'flatten_fc': assert fc.in_features == nf * h * w
    elif head == 'avg_dense': assert fc.in_features % nf == 0  # the pooled map, flattened
    else: assert fc.in_features == nf
    x = torch.randn(2, 3, 64, 64)
    assert m(x).shape == (2, 4)
    assert m.forward_head(m.forward_features(x), pre_logits=True).shape == (2, fc.in_features)

def test_sizes_reach_timm():
    "A model timm builds for one size is built for the DataLoaders' size; flexible=True makes it take any"
    m = create_wise_model('vit_tiny_patch16_224', 3, size=512, head='gap')
    assert m(torch.randn(1, 3, 512, 512)).shape == (1, 3) and m.cfg.fmap_size == (32, 32)
    m = create_wise_model('vit_tiny_patch16_224', 3, size=64, flexible=True).eval()
    for s in (64, 96, 80):
        assert m(torch.randn(1, 3, s, s)).shape == (1, 3)
    m = create_wise_model('swin_tiny_patch4_window7_224', 3, size=64)
    m.resize(128)                                            # progressive resizing: the backbone follows
    assert m.cfg.fmap_size == (4, 4) and m(torch.randn(1, 3, 128, 128)).shape == (1, 3)
    with pytest.raises(ValueError, match='flexible=False'):
        create_wise_model('maxvit_rmlp_pico_rw_256', 3, size=64, flexible=True)

@pytest.mark.parametrize('arch,match', [('coat_lite_tiny', 'cannot lay them out'), ('pit_ti_224', 'cannot lay them out'),
                                        ('crossvit_tiny_240', 'timm cannot build')])
def test_unsupported_say_why(arch, match):
    with pytest.raises(ValueError, match=match): create_wise_model(arch, 3, size=64)

def test_cut_needs_a_map():
    with pytest.raises(ValueError, match='cut='): create_timm_body('vit_tiny_patch16_224', cut=-1, size=64)

@pytest.mark.parametrize('arch', ['vit_tiny_patch16_224', 'swin_tiny_patch4_window7_224'])
def test_transformer_workflow(arch, tmp_path):
    "fastai's workflow on a transformer: train, progressive resizing, Grad-CAM, safetensors rebuild and ONNX"
    from fastai.vision.all import ImageDataLoaders, Resize, set_seed
    from wisefast.learner import wise_learner
    from wisefast.export import save_weights, export_onnx, check_onnx
    from wisefast.load import load_wise_model
    from wisefast.interpret import gradcam
    from helpers import image_folder
    folder = image_folder(tmp_path/'imgs', n_per_class=6)[0]
    dls = lambda s: ImageDataLoaders.from_folder(folder, valid_pct=0.2, seed=0, item_tfms=Resize(s), bs=8, num_workers=0)
    set_seed(0)
    learn = wise_learner(dls(64), arch, pretrained=False)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    learn.dls = dls(96)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    m = learn.model.eval()
    assert nonneg_params(m) and all((p >= 0).all() for p in nonneg_params(m))   # Keras' NonNeg held in training
    assert m.cfg.size == (96, 96) and m.cfg.fmap_size == ((6, 6) if 'vit' in arch else (3, 3))
    x = torch.rand(2, 3, 96, 96)
    cams = gradcam(m, x)                                     # through the backbone's map, laid out as an image
    assert cams.shape == (2, 96, 96) and cams.std() > 0
    rebuilt = load_wise_model(save_weights(learn, tmp_path/'m.safetensors')).eval()
    torch.testing.assert_close(rebuilt(x), m(x))
    assert check_onnx(export_onnx(m, tmp_path/'m.onnx'), m) < 1e-3

@pytest.mark.parametrize('arch', ['swinv2_tiny_window8_256', 'maxvit_rmlp_pico_rw_256', 'coatnet_pico_rw_224',
                                  'efficientvit_m0', 'eva02_tiny_patch14_224', 'beit_base_patch16_224'])
def test_resized_fixed_size_models_rebuild(arch, tmp_path):
    "A fixed-size backbone resized (progressive resizing) is the model its saved config rebuilds, weights and all"
    from wisefast.export import save_weights
    from wisefast.load import load_wise_model
    a, b = (64, 96) if arch.startswith(('maxvit', 'coatnet')) else (112, 128)   # their windows must divide each map
    m = create_wise_model(arch, 3, size=a).resize(b).eval()
    rebuilt = load_wise_model(save_weights(m, tmp_path/'m.safetensors')).eval()
    x = torch.rand(1, 3, b, b)
    torch.testing.assert_close(rebuilt(x), m(x))

def test_levit_cannot_resize():
    m = create_wise_model('levit_128s', 3, size=128)
    with pytest.raises(ValueError, match='build a new model'): m.resize(192)
