"timm's and PyTorch's model contracts on WiseModels (`benchmarks/timm_contracts.py`): what the plain timm model passes, every head passes"
import sys
from pathlib import Path
import pytest, torch, timm
from torch import nn
from wisefast.heads import HEAD_REGISTRY
from wisefast.models import create_wise_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'benchmarks'))
import timm_contracts as tc

def _holds(family:str, arch:str, check:str):
    plain = tc.run(check, arch, tc.PLAIN)
    if plain != 'pass': pytest.skip(f"the plain timm model {arch} fails {check} too: {plain}")
    fails = {h: r for h in HEAD_REGISTRY if (r := tc.run(check, arch, h)) != 'pass'}
    assert not fails, f"{family} ({arch}), {check}: {fails}"

@pytest.mark.parametrize('check', tc.CHECKS)
@pytest.mark.parametrize('family', tc.FAMILIES)
def test_contract(family, check):
    "Every head on a CNN, a channels-last model and a ViT"
    _holds(family, tc.FAMILIES[family], check)

@pytest.mark.extended
@pytest.mark.parametrize('check', tc.CHECKS)
@pytest.mark.parametrize('family', tc.MORE_FAMILIES)
def test_contract_more_families(family, check):
    _holds(family, tc.MORE_FAMILIES[family], check)

def test_timm_attributes_mean_what_they_mean_in_timm():
    "num_features: the backbone's channels; head_hidden_size: the pre-logits width; a cfg of this model, at its size"
    m = create_wise_model('resnet18', 5, size=64, head='avg_dense').eval()   # 2×2 map, flattened: 2048 pre-logits
    x = torch.randn(2, 3, 64, 64)
    assert (m.num_features, m.head_hidden_size, m.num_classes) == (512, 2048, 5)
    assert m.forward_features(x).shape[1] == m.num_features
    assert m.forward_head(m.forward_features(x), pre_logits=True).shape == (2, m.head_hidden_size)
    cfg, sd = m.pretrained_cfg, m.state_dict()
    assert cfg['input_size'] == (3, 64, 64) and timm.data.resolve_data_config(model=m)['input_size'] == (3, 64, 64)
    assert cfg['classifier'] + '.weight' in sd and cfg['first_conv'] + '.weight' in sd
    assert m.forward_intermediates(x, indices=1, intermediates_only=True)[0].shape == (2, 512, 2, 2)
    assert [f['num_chs'] for f in m.feature_info][-1] == 512
    m.set_grad_checkpointing()
    assert m[0].model.grad_checkpointing

def test_fastai_head_reset_classifier_round_trip():
    "The issue's case: `reset_classifier(0)` then `reset_classifier(7)` on fastai's head replaced the hidden Linear"
    m = create_wise_model('resnet18', 10, size=64, head='fastai').eval()
    x = torch.randn(2, 3, 64, 64)
    m.reset_classifier(0)
    assert m.num_classes == 0 and m(x).shape == (2, 512) == (2, m.head_hidden_size)
    m.reset_classifier(7)
    assert m.num_classes == 7 and m.eval()(x).shape == (2, 7) and m.cfg.n_out == 7

def test_vision_learner_splitter_and_custom_head_init():
    "A splitter written for fastai's timm bodies (`TimmBody.model`) works unchanged; `init` reaches a custom head"
    from fastai.vision.all import params
    from wisefast.learner import wise_learner
    from wisefast.data import wise_dls
    from helpers import real_images
    X, y, _ = real_images(4)
    dls = wise_dls(dict(train=list(zip(X, y.astype(str))), valid=list(zip(X[:8], y[:8].astype(str)))), size=64, bs=8,
                   augment=False, num_workers=0)
    learn = wise_learner(dls, 'resnet18', pretrained=False, splitter=lambda m: [params(m[0].model.layer4), params(m[1])])
    learn.create_opt()
    assert len(learn.opt.param_groups) == 2
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    seen = []
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))
    wise_learner(dls, 'resnet18', pretrained=False, custom_head=head, init=lambda w: seen.append(w.shape) or nn.init.zeros_(w))
    assert seen == [torch.Size([10, 512])] and head[2].weight.abs().sum() == 0    # fastai's `apply_init` on the head
