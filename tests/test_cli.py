"The `wisefast` command: dispatch, --help, train (outputs, resume) and predict."
import subprocess, sys, os, pytest, torch
import pandas as pd
from pathlib import Path
from wisefast import cli
from wisefast.cli import main, train, train_config, train_parser, predict
from wisefast.data import digits_folder

ENV = {**os.environ, 'HF_HUB_OFFLINE': '1', 'NO_ALBUMENTATIONS_UPDATE': '1', 'MPLBACKEND': 'Agg'}
WISEFAST = Path(sys.executable).parent/'wisefast'

@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def run_cli(*args):
    return subprocess.run([str(WISEFAST), *args], capture_output=True, text=True, env=ENV, timeout=120)

def test_console_help():
    r = run_cli('--help')
    assert r.returncode == 0
    for cmd in ('train', 'predict', 'compare', 'gradcam'): assert cmd in r.stdout
    r = run_cli('train', '--help')
    assert r.returncode == 0
    for opt in ('--data', '--arch', '--head', '--size', '--bs', '--epochs', '--lr', '--pretrained', '--out', '--resume',
                '--seed', '--fp16', '--workers'): assert opt in r.stdout
    assert run_cli('predict', '--help').returncode == 0

def test_unknown_and_missing_commands(capsys, monkeypatch):
    assert main(['fly']) == 2
    monkeypatch.setitem(cli.COMMANDS, 'gradcam', ('wisefast.not_written_yet:gradcam_main', 'Grad-CAM'))
    assert main(['gradcam', 'x']) == 2
    assert 'not available' in capsys.readouterr().err

def test_lazy_dispatch_passes_argv(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, '_command', lambda name: lambda argv: seen.append((name, argv)))
    assert main(['compare', 'intel', '--heads', 'gap,wise']) == 0
    assert seen == [('compare', ['intel', '--heads', 'gap,wise'])]

def test_default_job_config():
    cfg = train_config(train_parser().parse_args([]))
    assert cfg['data'] == 'fashion_mnist' and cfg['head'] == 'wise' and cfg['epochs'] <= 5 and cfg['size'] <= 64
    cfg = train_config(train_parser().parse_args(['--data', 'intel']))
    assert not {'arch', 'size', 'bs', 'epochs'} & set(cfg)  # the recipe decides

def _tiny(out, *extra):
    return train_config(train_parser().parse_args(
        ['--data', 'digits', '--arch', 'test_resnet', '--size', '32', '--bs', '16', '--n-per-class', '16,4',
         '--augment', 'none', '--workers', '0', '--out', str(out), *extra]))

def test_train_resume_and_predict(tmp_path, capsys):
    train(_tiny(tmp_path, '--epochs', '1'))
    out = capsys.readouterr().out
    assert 'Final metrics' in out and 'test accuracy' in out and str(tmp_path) in out
    for f in ('export.pkl', 'history.csv', 'curves.png', 'models/last.pth', 'models/best.pth'): assert (tmp_path/f).exists()
    learn = train(_tiny(tmp_path, '--epochs', '3', '--resume'))
    assert 'Resuming' in capsys.readouterr().out
    assert list(pd.read_csv(tmp_path/'history.csv').epoch) == [0, 1, 2]
    assert learn.opt.hypers[0]['lr'] == pytest.approx(0.045*0.94)
    imgs = digits_folder()/'test'/'7'
    res = predict(tmp_path/'export.pkl', [imgs])
    assert len(res) == len(list(imgs.glob('*.png'))) and all(c in [str(i) for i in range(10)] for _, c, _ in res)
    assert all(0 <= p <= 1 for *_, p in res)
    assert main(['predict', str(tmp_path), str(next(imgs.glob('*.png')))]) == 0
    assert capsys.readouterr().out.count('\t') == 2
