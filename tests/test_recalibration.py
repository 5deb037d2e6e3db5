"MS-SAR and SE gates inside timm's ResNet and DenseNet blocks: identity at the start, trained with the head, exported."
import json, pickle
from pathlib import Path
import pytest, torch, timm
import torch.nn.functional as F
from torch import nn
from safetensors.torch import save_file
from fastai.vision.all import ImageDataLoaders, Resize, accuracy, set_seed
from wisefast.learner import wise_learner
from wisefast.models import create_wise_model
from wisefast.recalibration import MSSAR, add_recalibration, recalibration_params
from wisefast.export import save_weights, export_onnx, check_onnx
from wisefast.load import load_wise_model, load_wise_learner, _header
from wisefast.interpret import gradcam
from helpers import image_folder

DATA = Path(__file__).parent/'data'

@pytest.fixture(scope='module')
def folder(tmp_path_factory): return image_folder(tmp_path_factory.mktemp('imgs'), n_per_class=6)[0]

def _dls(folder): return ImageDataLoaders.from_folder(folder, valid_pct=0.2, seed=0, item_tfms=Resize(64), bs=8, num_workers=0)

@pytest.mark.parametrize('arch', ['resnet10t', 'densenet121'])
@pytest.mark.parametrize('kind', ['ms_sar', 'se'])
def test_pretrained_fine_tune(folder, tmp_path, arch, kind):
    "Pretrained weights work unchanged from the first step; frozen, the gates train with the head and the body does not"
    weights = tmp_path/'w.safetensors'
    save_file({k: v.contiguous() for k, v in timm.create_model(arch).state_dict().items()}, str(weights))
    set_seed(0)
    plain = wise_learner(_dls(folder), arch, pretrained=weights)
    set_seed(0)
    learn = wise_learner(_dls(folder), arch, pretrained=weights, recalibration=kind, metrics=accuracy)
    x = learn.dls.valid.one_batch()[0]
    learn.model.eval(); plain.model.eval()
    torch.testing.assert_close(learn.model[0](x), plain.model[0](x))       # the same map: the gates are the identity
    gates = recalibration_params(learn.model)
    assert gates and all(any(p is q for q in learn.opt.param_lists[-1]) for p in gates)   # in the head's group
    conv = next(m.weight for m in learn.model[0].modules() if isinstance(m, torch.nn.Conv2d)).detach().clone()
    before = [p.detach().clone() for p in gates]
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-2)
    assert any(not torch.equal(a, p) for a, p in zip(before, gates))
    assert torch.equal(conv, next(m.weight for m in learn.model[0].modules() if isinstance(m, torch.nn.Conv2d)))

def test_export_and_gradcam(tmp_path):
    m = create_wise_model('resnet10t', 3, size=64, recalibration='ms_sar')
    with torch.no_grad():                                   # trained-looking gates, not the identity
        for g in m.modules():
            if isinstance(g, MSSAR): g.local[0].weight.normal_(0, 0.1)
    m.eval()
    x = torch.rand(2, 3, 64, 64)
    rebuilt = load_wise_model(save_weights(m, tmp_path/'m.safetensors')).eval()
    assert rebuilt.cfg.recalibration == 'ms_sar' and sum(isinstance(g, MSSAR) for g in rebuilt.modules()) == 4
    assert rebuilt.cfg.recalibration_placement == 'narrow'     # resnet10t's basic blocks: at SE's site
    assert all(isinstance(b.se, MSSAR) for b in rebuilt[0].model.modules() if isinstance(b, timm.models.resnet.BasicBlock))
    torch.testing.assert_close(rebuilt(x), m(x))
    assert check_onnx(export_onnx(m, tmp_path/'m.onnx'), m) < 1e-3
    cams = gradcam(m, x)
    assert cams.shape == (2, 64, 64)

def test_files_from_before_placements_load_with_gates_at_output(tmp_path):
    """A model saved before placements existed (wisefast at 75f033f: MS-SAR at SE's site, its config naming no placement)
    loads with its gates where they were and gives the probabilities recorded then; saved again, it says 'output'"""
    old = DATA/'ms-sar-output'
    exp = json.loads((old/'expected.json').read_text())
    assert 'recalibration_placement' not in json.loads(_header(old/'ms_sar.safetensors')['wisefast_config'])
    learn = load_wise_learner(old/'ms_sar.safetensors')
    assert learn.model.cfg.recalibration_placement == 'output'
    assert all(isinstance(b.se, MSSAR) for b in learn.model.modules() if isinstance(b, timm.models.resnet.BasicBlock))
    imgs = [DATA/'legacy-0.1.0'/'images'/f for f in exp['files']]
    probs = learn.get_preds(dl=learn.dls.test_dl(imgs))[0]
    torch.testing.assert_close(probs, torch.tensor(exp['probs']), atol=1e-5, rtol=0)
    again = load_wise_model(save_weights(learn.model, tmp_path/'again.safetensors'))
    assert again.cfg.recalibration_placement == 'output'

def test_unsupported_backbone_says_why():
    with pytest.raises(ValueError, match='needs one of those families'):
        create_wise_model('convnext_atto', 3, size=64, recalibration='ms_sar')
    with pytest.raises(ValueError, match='Unknown recalibration'):
        create_wise_model('resnet10t', 3, size=64, recalibration='cbam')

class ReferenceMSSAR(nn.Module):
    "`MSSAR` as first written (wisefast 2026-12, before `_Gate`): the formula through autograd, the reference"
    def __init__(self, channels, scales=(1, 2), kernel_size=3, global_context=True):
        super().__init__()
        self.scales = tuple(scales)
        self.local = nn.ModuleList(nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels,
                                             bias=False) for _ in self.scales)
        self.glob = nn.Parameter(torch.zeros(1, channels, 1, 1)) if global_context else None
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        for conv in self.local: nn.init.zeros_(conv.weight)

    def importance(self, x):
        z = self.bias if self.glob is None else self.bias + self.glob * x.mean((2, 3), keepdim=True)
        for s, conv in zip(self.scales, self.local):
            z = z + (conv(x) if s == 1 else
                     F.interpolate(conv(F.avg_pool2d(x, s, ceil_mode=True)), size=x.shape[-2:], mode='nearest'))
        return z

    def forward(self, x): return x * (2 * torch.sigmoid(self.importance(x)))

def _random_(gate):
    "`gate` with trained-looking weights, far from the identity"
    with torch.no_grad():
        for p in gate.parameters(): p.normal_(0, .5)
    return gate

def _grads(m, x, dy):
    x = x.clone().requires_grad_()
    y = m(x)
    return y, torch.autograd.grad(y, (x, *m.parameters()), dy)

@pytest.mark.parametrize('size', [(8, 8), (7, 7), (5, 9), (4, 6), (1, 1)])
@pytest.mark.parametrize('kwargs', [{}, dict(global_context=False), dict(scales=(1,)), dict(scales=(2,)),
                                    dict(scales=(1, 2, 4), kernel_size=5)])
@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
def test_same_as_reference(size, kwargs, memory_format):
    "Outputs, input and parameter gradients as the formula's, to float rounding; in the input's memory format"
    torch.manual_seed(0)
    ref = _random_(ReferenceMSSAR(6, **kwargs))
    g = MSSAR(6, **kwargs)
    g.load_state_dict(ref.state_dict())
    x = torch.randn(3, 6, *size).contiguous(memory_format=memory_format)
    dy = torch.randn(3, 6, *size).contiguous(memory_format=memory_format)
    (y, grads), (y_ref, grads_ref) = _grads(g, x, dy), _grads(ref, x, dy)
    torch.testing.assert_close(y, y_ref)
    assert y.is_contiguous(memory_format=memory_format)
    for a, b in zip(grads, grads_ref): torch.testing.assert_close(a, b)
    assert grads[0].is_contiguous(memory_format=memory_format)
    with torch.no_grad(): torch.testing.assert_close(g(x), y_ref)
    torch.testing.assert_close(g.importance(x), ref.importance(x))
    torch.testing.assert_close(pickle.loads(pickle.dumps(g))(x), y_ref)      # `learn.export` pickles the model

@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
def test_identity_at_init(memory_format):
    x = torch.randn(2, 16, 7, 7).contiguous(memory_format=memory_format)
    for kwargs in ({}, dict(global_context=False), dict(scales=(1, 2, 4))):
        g = MSSAR(16, **kwargs)
        assert torch.equal(g(x), x) and torch.equal(g(x.requires_grad_()), x)
        with torch.no_grad(): assert torch.equal(g(x), x)

@pytest.mark.parametrize('arch', ['resnet18', 'test_resnet', 'densenet121'])   # test_resnet: a bottleneck too
@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('placement', ['narrow', 'output'])
def test_inside_backbones_same_as_reference(arch, memory_format, placement):
    """Every gate `add_recalibration` puts into a timm backbone, on the map and the gradient it gets there (layouts, a
    dense layer's slice of its concatenation's gradient): the reference's output and gradients. Gate by gate, as the
    whole network's gradients can differ by a percent when float rounding flips a ReLU or a max-pool's choice."""
    torch.manual_seed(0)
    model = add_recalibration(timm.create_model(arch, num_classes=3), 'ms_sar', placement).to(memory_format=memory_format)
    for m in model.modules():
        if isinstance(m, MSSAR): _random_(m)
        if isinstance(m, nn.BatchNorm2d): nn.init.ones_(m.weight)      # not timm's zero start of a block's last BN
    seen = []
    def keep(gate, inputs, y): y.register_hook(lambda dy: seen.append((gate, inputs[0].detach(), dy)))
    hooks = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, MSSAR)]
    model(torch.rand(2, 3, 64, 64).contiguous(memory_format=memory_format)).logsumexp(1).sum().backward()
    for h in hooks: h.remove()
    assert len(seen) == sum(isinstance(m, MSSAR) for m in model.modules())
    for gate, x, dy in seen:
        ref = ReferenceMSSAR(x.shape[1])
        ref.load_state_dict(gate.state_dict())
        (y, grads), (y_ref, grads_ref) = _grads(gate, x, dy), _grads(ref, x, dy)
        torch.testing.assert_close(y, y_ref)
        for a, b in zip(grads, grads_ref): torch.testing.assert_close(a, b)
