"MS-SAR and SE gates inside timm's ResNet and DenseNet blocks: identity at the start, trained with the head, exported."
import warnings
import pytest, torch, timm
from safetensors.torch import save_file
from fastai.vision.all import ImageDataLoaders, Resize, accuracy, set_seed
from wisefast.learner import wise_learner
from wisefast.models import create_wise_model
from wisefast.recalibration import MSSAR, recalibration_params
from wisefast.export import save_weights, wise_model_from_safetensors, export_onnx, check_onnx
from wisefast.interpret import gradcam
from helpers import image_folder

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
    rebuilt = wise_model_from_safetensors(save_weights(m, tmp_path/'m.safetensors')).eval()
    assert rebuilt.cfg['recalibration'] == 'ms_sar' and sum(isinstance(g, MSSAR) for g in rebuilt.modules()) == 4
    torch.testing.assert_close(rebuilt(x), m(x))
    assert check_onnx(export_onnx(m, tmp_path/'m.onnx'), m) < 1e-3
    cams = gradcam(m, x)
    assert cams.shape == (2, 64, 64)

def test_unsupported_backbone_says_why():
    with pytest.raises(ValueError, match='needs one of those families'):
        create_wise_model('convnext_atto', 3, size=64, recalibration='ms_sar')
    with pytest.raises(ValueError, match='Unknown recalibration'):
        create_wise_model('resnet10t', 3, size=64, recalibration='cbam')
