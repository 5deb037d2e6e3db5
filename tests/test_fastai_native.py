"`wise_learner` as a drop-in for `vision_learner`: its workflows, its model contract, timm's model API."
import os, warnings
import numpy as np, pytest, torch, timm
from torch import nn

os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
from fastai.vision.all import ImageDataLoaders, Resize, accuracy, set_seed, default_split
from wisefast.learner import wise_learner
from wisefast.models import WiseModel
from wisefast.export import save_weights
from wisefast.load import load_wise_model, read_config
from wisefast.paper import DEFAULT_INIT, DEFAULT_PS
from helpers import image_folder

@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    return image_folder(tmp_path_factory.mktemp('imgs'), n_per_class=30)[0]

def _dls(folder, size, bs=32):
    return ImageDataLoaders.from_folder(folder, valid_pct=0.2, seed=0, item_tfms=Resize(size), bs=bs, num_workers=0)

def test_progressive_resizing_records_the_new_size(folder, tmp_path):
    "fastai's progressive resizing: train at 64 px, swap in 96 px DataLoaders, train on; what is saved is the 96 px model"
    set_seed(0)
    learn = wise_learner(_dls(folder, 64), 'resnet10t', pretrained=False, metrics=accuracy)
    learn.freeze()                                          # the frozen state survives the head's rebuild
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    body = {k: v.clone() for k, v in learn.model[0].state_dict().items()}
    learn.dls = _dls(folder, 96)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
    m = learn.model
    assert m.cfg.size == (96, 96) and m.cfg.fmap_size == (3, 3) and m[1].grid == (3, 3)
    assert learn.opt.frozen_idx == 1                        # still only the head trains
    assert all(torch.equal(v, m[0].state_dict()[k]) for k, v in body.items() if v.ndim == 4)   # convolutions frozen (BN trains)
    assert all(any(p is q for q in learn.opt.all_params(with_grad=False).itemgot(0)) for p in m[1].parameters())
    f = save_weights(learn, tmp_path/'m.safetensors')
    assert read_config(f).size == (96, 96)
    rebuilt = load_wise_model(f).eval()
    x = torch.rand(2, 3, 96, 96)
    assert torch.allclose(rebuilt(x), m.eval()(x), atol=1e-5)

def test_default_split_and_slicing(folder):
    learn = wise_learner(_dls(folder, 64), 'resnet10t', pretrained=False)
    m = learn.model
    assert learn.splitter is default_split and len(learn.splitter(m)) == 2
    assert type(m[1:]) is nn.Sequential and type(m[1][:2]) is nn.Sequential
    x = torch.rand(2, 3, 64, 64)
    m.eval()
    assert torch.allclose(m[1:](m[:1](x)), m(x))

def test_timm_model_api(folder):
    "timm's utilities work on a WiseModel: its data config, classifier swap and pre-logits features"
    m = wise_learner(_dls(folder, 64), 'resnet10t', pretrained=False).model.eval()
    cfg = timm.data.resolve_data_config({}, model=m)
    assert cfg['mean'] == timm.data.IMAGENET_DEFAULT_MEAN and cfg['input_size'] == (3, 64, 64)   # the model's size, not resnet10t's 176
    assert (m.num_classes, m.num_features) == (10, 512) and m.get_classifier() is m[1].fc
    x = torch.rand(2, 3, 64, 64)
    feats = m.forward_head(m.forward_features(x), pre_logits=True)
    m.reset_classifier(0)
    assert torch.equal(m(x), feats)                         # timm: no classifier gives the pre-logits features
    m.reset_classifier(3)
    assert m(x).shape == (2, 3) and m.cfg.n_out == 3
    with pytest.raises(ValueError, match='forward_features'): m.reset_classifier(3, global_pool='avg')

def test_defaults_are_the_measured_ones(folder):
    "the Wise-SrNet head starts as GAP over its grid, without dropout; the paper's heads stay available"
    h = wise_learner(_dls(folder, 64), 'resnet10t', pretrained=False).model[1]
    assert (DEFAULT_INIT, DEFAULT_PS) == ('gap', 0.)
    assert h.drop.p == 0 and torch.allclose(h.spatial.kernel, torch.tensor(1 / 4)) and h.spatial.gain == 0.1
    p = wise_learner(_dls(folder, 64), 'resnet10t', pretrained=False, init='paper', ps=0.5).model[1]
    assert p.drop.p == 0.5 and abs(p.spatial.weight.std().item() - 0.01) < 2e-3 and p.spatial.gain == 1
    f = wise_learner(_dls(folder, 64), 'resnet10t', pretrained=False, head='fastai').model[1]
    assert [m.p for m in f if isinstance(m, nn.Dropout)] == [0.25, 0.5]   # vision_learner's ps=0.5

def test_pretrained_is_the_default_and_says_what_to_do_offline(folder, tmp_path, monkeypatch):
    "Offline, with none of timm's weights cached (an empty Hugging Face cache, whatever this machine holds): what to do"
    import huggingface_hub.constants as hf
    monkeypatch.setattr(hf, 'HF_HUB_CACHE', str(tmp_path/'hf'))
    monkeypatch.setattr(hf, 'HF_HUB_OFFLINE', True)
    with pytest.raises(ConnectionError, match='pretrained=False'): wise_learner(_dls(folder, 64), 'resnet10t')

def test_channels_last_and_fp16_opt_in(folder):
    "nothing is switched on by itself; `to_channelslast` keeps working (on CPU too) and `to_fp16` on CPU says so"
    learn = wise_learner(_dls(folder, 64), 'resnet10t', pretrained=False)
    assert not hasattr(learn, 'mixed_precision') and not hasattr(learn, 'channels_last')
    if torch.cuda.is_available(): pytest.skip("the fp16 message is for machines without CUDA")
    learn.to_channelslast()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-4)
    assert any('trains in fp32' in str(o.message) for o in w)
    assert learn.model[0].model.conv1[0].weight.is_contiguous(memory_format=torch.channels_last)

def test_to_bf16_autocasts_on_a_cpu_with_bfloat16(folder, tmp_path, monkeypatch):
    """`to_bf16()` on a CPU with bfloat16 instructions trains in bfloat16 (fastai's `MixedPrecision` autocasts on CUDA
    only), silently; weights stay fp32, predictions come back fp32 and close to fp32's; `to_fp32()` turns it off.
    On a CPU without those instructions autocast still works, slowly: told it has them, the test runs everywhere."""
    if torch.cuda.is_available(): pytest.skip("for machines without CUDA")
    import wisefast.learner
    from fastai.learner import load_learner
    monkeypatch.setattr(wisefast.learner, 'cpu_bf16', lambda: True)
    set_seed(0)
    learn = wise_learner(_dls(folder, 64), 'resnet10t', pretrained=False, metrics=accuracy)
    dtypes = []
    learn.model[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    learn.to_bf16()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 3e-3)
    assert not [str(o.message) for o in w if 'autocast' in str(o.message) or 'precision' in str(o.message)]
    assert set(dtypes) == {torch.bfloat16} and all(p.dtype == torch.float32 for p in learn.model.parameters())
    assert 'before_fit' not in vars(learn.mixed_precision)              # fastai's own again after the fit
    losses = [float(l) for l in learn.recorder.losses]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])               # it learns
    dtypes.clear()
    bf, targ = learn.get_preds()
    assert set(dtypes) == {torch.bfloat16} and bf.dtype == torch.float32
    learn.export(tmp_path/'export.pkl')                               # exported with `to_bf16()` on: loads, predicts
    loaded = load_learner(tmp_path/'export.pkl')
    assert loaded.predict(next((folder/'3').iterdir()))[0] in learn.dls.vocab
    learn.to_fp32(); dtypes.clear()
    fp, _ = learn.get_preds()
    assert set(dtypes) == {torch.float32}
    assert (bf - fp).abs().max() < 0.05 and (bf.argmax(1) == fp.argmax(1)).float().mean() >= 0.95

def test_every_vision_learner_argument():
    "wise_learner takes every argument of vision_learner, under the same name"
    import inspect
    from fastai.vision.learner import vision_learner
    missing = set(inspect.signature(vision_learner).parameters) - set(inspect.signature(wise_learner).parameters)
    assert not missing

def test_vision_learner_arguments_with_their_meaning(folder):
    dls = _dls(folder, 64)
    from torchvision.models import resnet18
    with pytest.raises(ValueError, match="e.g. 'resnet18'"): wise_learner(dls, resnet18, pretrained=False)
    with pytest.raises(ValueError, match='pretrained=True'): wise_learner(dls, 'resnet18', weights='DEFAULT')
    with pytest.raises(ValueError, match="head='fastai'"): wise_learner(dls, 'resnet18', pretrained=False, lin_ftrs=[64])
    head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(512, 10))
    learn = wise_learner(dls, 'resnet18', pretrained=False, custom_head=head)
    assert learn.model[1] is head and learn.model.cfg.head == 'custom'
    f = wise_learner(dls, 'resnet18', pretrained=False, head='fastai', concat_pool=False, first_bn=False, lin_first=True,
                     init=nn.init.orthogonal_)
    kinds = [type(m).__name__ for m in f.model[1]]
    assert kinds[:2] == ['AdaptiveAvgPool2d', 'Flatten'] and kinds[2] != 'BatchNorm1d'
    assert 2 * 512 not in [m.in_features for m in f.model[1] if isinstance(m, nn.Linear)]   # no concat pool
    r = wise_learner(dls, 'resnet18', pretrained=False, n_out=1, y_range=(-1, 1), cut=-3)
    out = r.model.eval()(torch.rand(2, 3, 64, 64) * 50)
    assert out.shape == (2, 1) and out.abs().max() <= 1 and r.model.cfg.nf == 256
