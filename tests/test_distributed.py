"DDP on CPU (gloo, 2 processes): ranks stay identical, the non-negative constraint holds, only rank 0 writes files."
import json, os, socket, subprocess, sys, warnings
from pathlib import Path
import pytest, torch

from helpers import image_folder
from wisefast.export import save_weights, export_onnx
from wisefast.load import load_wise_model
from wisefast.heads import nonneg_params

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

LAUNCHERS = {
    'torchrun': lambda port: [BIN/'torchrun', '--nproc_per_node', '2', '--master_port', str(port)],
    'accelerate': lambda port: [BIN/'accelerate', 'launch', '--multi_gpu', '--num_processes', '2',
                                '--num_machines', '1', '--mixed_precision', 'no', '--dynamo_backend', 'no',
                                '--main_process_port', str(port)],
}

@pytest.fixture(scope='module')
def images(tmp_path_factory): return image_folder(tmp_path_factory.mktemp('ddp')/'imgs', n_per_class=8)[0]

@pytest.mark.parametrize('launcher', ['torchrun', pytest.param('accelerate', marks=pytest.mark.slow)])
def test_ddp_two_cpu_processes(images, tmp_path, launcher):
    out = tmp_path/'run'
    cmd = [*LAUNCHERS[launcher](_port()), ROOT/'recipes'/'train_ddp.py', '--data', images, '--arch', 'resnet10t',
           '--size', '32', '--bs', '16', '--epochs', '2', '--out', out, '--num-workers', '0', '--check']
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1', 'NO_ALBUMENTATIONS_UPDATE': '1',
           'MPLBACKEND': 'Agg', 'CUDA_VISIBLE_DEVICES': ''}
    r = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    check = json.loads(next(l for l in r.stdout.splitlines() if l.startswith('DDP_CHECK '))[len('DDP_CHECK '):])
    assert check['world'] == 2
    assert check['max_rank_diff'] == 0.0                     # bit-identical weights and buffers on both ranks
    assert check['max_update'] > 0                           # ... after real optimizer steps
    assert check['nonneg_min'] >= 0 and check['nonneg_zero_frac'] > 0   # the projection acted and holds
    assert r.stdout.count('DDP_CHECK') == 1                  # rank 0 prints, rank 1 does not
    # one writer: a history with one header and one row per epoch, the checkpoints, the exports
    rows = (out/'history.csv').read_text().splitlines()
    assert rows[0].startswith('epoch,') and [l.split(',')[0] for l in rows[1:]] == ['0', '1']
    assert (out/'models'/'last.pth').exists() and (out/'models'/'best.pth').exists()
    assert not list((out/'models').glob('.*.tmp'))
    m = load_wise_model(out/'model.safetensors')
    assert all((p >= 0).all() for p in nonneg_params(m))
    last = torch.load(out/'models'/'last.pth', map_location='cpu', weights_only=False)['model']
    assert all(torch.equal(v, last[k]) for k, v in m.state_dict().items())
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from fastai.learner import load_learner
        learn = load_learner(out/'export.pkl')
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(): assert torch.equal(learn.model.eval()(x), m(x))

def test_other_ranks_write_nothing(tmp_path, monkeypatch):
    "With RANK=1 every writer returns without touching the disk (fastai's `save`/`export` and wisefast's)."
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from wisefast.learner import wise_learner
    from wisefast.callbacks import save_checkpoint
    ds = [(torch.randn(3, 32, 32), torch.tensor(i % 2)) for i in range(8)]
    dls = DataLoaders(DataLoader(ds, bs=4), DataLoader(ds, bs=4), device='cpu')
    learn = wise_learner(dls, 'resnet10t', pretrained=False, n_out=2, loss_func=torch.nn.CrossEntropyLoss(), path=tmp_path)
    learn.create_opt()
    monkeypatch.setenv('RANK', '1')
    learn.save('w'); save_checkpoint(learn, 'last', epoch=0); learn.export()
    save_weights(learn, tmp_path/'m.safetensors'); export_onnx(learn, tmp_path/'m.onnx', dynamo=False)
    assert not [p for p in tmp_path.rglob('*') if p.is_file()]
