"Export round trips with the full wisefast data pipeline (Table 3 albumentations + caffe `Preprocess`)."
import json, os, subprocess, sys
import numpy as np, pytest, torch
from PIL import Image

os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
from wisefast.data import wise_dls
from wisefast.learner import wise_learner
from wisefast.paper import HEAD_VARIANTS
from wisefast.export import save_weights, export_onnx, check_onnx
from wisefast.load import load_weights, load_wise_model, read_config

def _folder(d, classes=('cat', 'dog', 'owl'), n=5, size=40):
    rng = np.random.default_rng(0)
    for i, c in enumerate(classes):
        (d/c).mkdir(parents=True)
        for j in range(n): Image.fromarray((rng.integers(0, 100, (size, size, 3)) + 70*i).astype(np.uint8)).save(d/c/f'{j}.jpg')
    return d

@pytest.fixture(scope='module')
def learn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('export')
    dls = wise_dls(_folder(tmp/'imgs'), size=32, bs=4, valid_pct=0.2, num_workers=0, device='cpu', check_images=False,
                   preprocess='caffe')
    learn = wise_learner(dls, 'resnet10t', pretrained=False, path=tmp)
    learn.fit(1, 1e-3)
    return learn

def _preds(learn, files): return learn.get_preds(dl=learn.dls.test_dl(files))[0]

def test_load_learner_fresh_process(learn):
    "`export` + `load_learner` in a new interpreter: same predictions on the same files, augmentation not applied."
    files = sorted((learn.path/'imgs').rglob('*.jpg'))
    learn.export('export.pkl')
    out = learn.path/'fresh.pt'
    code = ("import torch, warnings, pathlib; warnings.simplefilter('ignore'); torch.set_num_threads(1)\n"
            "from fastai.learner import load_learner\n"
            f"learn = load_learner({str(learn.path/'export.pkl')!r})\n"
            f"files = sorted(pathlib.Path({str(learn.path/'imgs')!r}).rglob('*.jpg'))\n"
            f"torch.save((learn.get_preds(dl=learn.dls.test_dl(files))[0], list(learn.dls.vocab)), {str(out)!r})")
    subprocess.run([sys.executable, '-c', code], check=True, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
    preds, vocab = torch.load(out)
    assert vocab == ['cat', 'dog', 'owl']
    assert torch.allclose(preds, _preds(learn, files), atol=1e-6)      # float sums may run in another order there

def test_safetensors_round_trip(learn, tmp_path):
    "No pickle: the header rebuilds the model, and the caffe preprocessing (BGR) is recorded."
    f = save_weights(learn, tmp_path/'m.safetensors')
    cfg = read_config(f)
    assert cfg.vocab == ('cat', 'dog', 'owl') and cfg.head == 'wise'
    assert cfg.norm[0]['bgr'] is True
    m = load_wise_model(f)
    x = torch.randn(2, 3, 32, 32)
    learn.model.eval()
    with torch.no_grad(): assert torch.equal(m(x), learn.model(x))
    sd = learn.model.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in m.state_dict().items())
    other = wise_learner(learn.dls, 'resnet10t', pretrained=False)
    load_weights(other, f)
    with torch.no_grad(): assert torch.equal(other.model.eval()(x), m(x))

def test_weights_saved_before_the_depthwise_gain(learn, tmp_path):
    "A file from before the head's gain (the applied kernel under `spatial.weight`, no `spatial.gain`) loads into the same function"
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open
    m = learn.model.eval()
    with torch.no_grad(): m[1].spatial.weight.uniform_(0.5, 1.5); m[1].spatial.bias.normal_()   # a trained-looking head
    f = save_weights(learn, tmp_path/'new.safetensors')
    sd, g = load_file(f), m[1].spatial.gain.item()
    assert abs(g - 0.1) < 1e-7 and '1.spatial.gain' in sd
    for k in ('weight', 'bias'): sd[f'1.spatial.{k}'] = sd[f'1.spatial.{k}'] * g
    del sd['1.spatial.gain']
    with safe_open(f, 'pt') as fh: meta = fh.metadata()
    save_file(sd, tmp_path/'old.safetensors', metadata=meta)
    x = torch.randn(2, 3, 32, 32)
    for old in (load_wise_model(tmp_path/'old.safetensors'),
                load_weights(wise_learner(learn.dls, 'resnet10t', pretrained=False), tmp_path/'old.safetensors').model):
        with torch.no_grad(): torch.testing.assert_close(old.eval()(x), m(x))
        assert old[1].spatial.gain.item() == g

@pytest.mark.parametrize('dynamo', [False, True])
def test_onnx_matches_pytorch(learn, tmp_path, dynamo):
    "onnxruntime within 1e-4 of PyTorch, preprocessing (BGR + caffe means) inside the graph."
    pytest.importorskip('onnxruntime')
    f = export_onnx(learn, tmp_path/'m.onnx', dynamo=dynamo)
    assert check_onnx(f, learn, bs=3) < 1e-4

def test_onnx_resnet18_64px(tmp_path):
    "A larger backbone at 64 px with non-trivial logits (head weights N(0, 1))."
    pytest.importorskip('onnxruntime')
    from wisefast.models import create_wise_model
    m = create_wise_model('resnet18', 7, size=64).eval()
    torch.nn.init.normal_(m[1].fc.weight); torch.nn.init.normal_(m[1].spatial.weight)
    f = export_onnx(m, tmp_path/'r18.onnx', softmax=True, dynamo=False)
    assert check_onnx(f, m, softmax=True) < 1e-4

@pytest.mark.slow
@pytest.mark.parametrize('head', HEAD_VARIANTS)
def test_onnx_every_head(tmp_path, head):
    "Every head variant exports and matches (legacy exporter, resnet10t at 64 px, N(0, 1) head weights)."
    pytest.importorskip('onnxruntime')
    from wisefast.models import create_wise_model
    m = create_wise_model('resnet10t', 4, size=64, head=head).eval()
    for p in m[1].parameters(): torch.nn.init.normal_(p)
    assert check_onnx(export_onnx(m, tmp_path/'m.onnx', dynamo=False), m) < 1e-4
