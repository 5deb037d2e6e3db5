"The `wisefast` command: dispatch, --help, train (outputs, resume) and predict."
import shlex, subprocess, sys, os, warnings, pytest
import pandas as pd
from pathlib import Path
from PIL import Image
from helpers import fashion_mnist
from wisefast import cli
from wisefast.cli import main, train, train_config, train_parser, predict
from wisefast.datasets import digits_folder

ENV = {**os.environ, 'HF_HUB_OFFLINE': '1', 'NO_ALBUMENTATIONS_UPDATE': '1', 'MPLBACKEND': 'Agg'}
WISEFAST = Path(sys.executable).parent/'wisefast'

ROOT = Path(__file__).resolve().parents[1]

def run_cli(*args, cwd=None):
    return subprocess.run([str(WISEFAST), *args], capture_output=True, text=True, env=ENV, timeout=600, cwd=cwd)

def test_console_help():
    r = run_cli('--help')
    assert r.returncode == 0
    for cmd in ('train', 'predict', 'compare', 'gradcam'): assert cmd in r.stdout
    r = run_cli('train', '--help')
    assert r.returncode == 0
    for opt in ('--data', '--arch', '--head', '--size', '--bs', '--epochs', '--lr', '--pretrained', '--out', '--resume',
                '--seed', '--fp16', '--workers'): assert opt in r.stdout
    assert run_cli('predict', '--help').returncode == 0

def test_unknown_command_and_missing_extra(capsys, monkeypatch, tmp_path):
    assert main(['fly']) == 2
    learn_dir = tmp_path/'run'
    train(_tiny(learn_dir, '--epochs', '1', '--n-per-class', '2,1'))
    monkeypatch.setitem(sys.modules, 'pytorch_grad_cam', None)       # as if the `gradcam` extra were not installed
    img = next((digits_folder()/'test'/'1').glob('*.png'))
    assert main(['gradcam', str(learn_dir), str(img), '--out', str(tmp_path/'cam.png')]) == 2
    err = capsys.readouterr().err
    assert "Grad-CAM needs the optional package 'grad-cam'" in err and "pip install 'wisefast[gradcam]'" in err

def test_lazy_dispatch_passes_argv(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, '_command', lambda name: lambda argv: seen.append((name, argv)))
    assert main(['compare', 'intel', '--heads', 'gap,wise']) == 0
    assert seen == [('compare', ['intel', '--heads', 'gap,wise'])]

def test_default_job_config():
    cfg = train_config(train_parser().parse_args([]))
    assert cfg['data'] == 'fashion_mnist' and cfg['head'] == 'wise' and cfg['epochs'] <= 5 and cfg['size'] <= 64
    cfg = train_config(train_parser().parse_args(['--data', 'intel']))
    assert (cfg['arch'], cfg['size'], cfg['bs']) == ('resnet50', 224, 70) and 'epochs' not in cfg   # the recipe's

@pytest.mark.parametrize('args,msg', [
    (['train', '--head', 'nope'], "invalid choice: 'nope'"),
    (['train', '--arch', 'resnett50'], "Unknown architecture 'resnett50'"),
    (['train', '--data', '/no/such/folder'], 'is neither an image folder'),
    (['train', '--size', '0'], 'must be at least 1, got 0'),
    (['train', '--epochs', '0'], 'must be at least 1, got 0'),
    (['train', '--bs', '0'], 'must be at least 1, got 0'),
    (['train', '--every', '0'], 'must be at least 1, got 0'),
    (['train', '--lr', 'nan'], 'finite number above 0'),
    (['predict', 'no/export.pkl', 'no.png'], 'no such model file or folder'),
    (['compare', 'fashion_mnist', '--heads', 'gap,nope'], "Unknown head 'nope'"),
    (['compare', 'mosaic_corner', '--heads', 'gap,wise:kaiming'], "Unknown head 'wise:kaiming'"),
    (['compare', 'mosaic_where', '--schedule', 'cosine'], "invalid choice: 'cosine'"),
    (['gradcam', 'img.png'], 'no model given'),
])
def test_user_errors_are_one_line(args, msg, tmp_path):
    "What a user can get wrong: one line on stderr saying what to do, exit code 2, no traceback, nothing written."
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip() and not l.startswith('warning:')]
    assert len(lines) == 1 and msg in lines[0] and 'Traceback' not in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []

def test_bs_larger_than_data_and_fp16_off(tmp_path, capsys):
    "A batch larger than the training set trains with the whole set (a warning says so), not zero steps."
    with pytest.warns(UserWarning, match=r'--bs 500 is larger than the \d+ training images'):
        learn = train(_tiny(tmp_path, '--epochs', '1', '--bs', '500', '--n-per-class', '4,1', '--no-fp16'))
    assert learn.dls.train.bs == len(learn.dls.train_ds) == 30 and len(learn.dls.train) == 1       # one full step
    assert pd.read_csv(tmp_path/'history.csv').train_loss.notna().all()
    assert (tmp_path/'export.pkl').exists()

def test_bf16(tmp_path, capsys, monkeypatch):
    """--bf16 (train, compare) autocasts on a CPU with bfloat16 instructions; on one without, it says it trains in fp32;
    with --fp16 it is a one-line error before anything is written"""
    import torch, wisefast.learner
    if torch.cuda.is_available(): pytest.skip("for machines without CUDA")
    assert main(['train', *_tiny_argv(tmp_path/'both'), '--fp16', '--bf16']) == 2
    assert 'choose one' in capsys.readouterr().err and not (tmp_path/'both').exists()
    calls, cpu_autocast = [], wisefast.learner._cpu_bf16_before_fit
    monkeypatch.setattr(wisefast.learner, '_cpu_bf16_before_fit', lambda mp: (calls.append(mp), cpu_autocast(mp)))
    monkeypatch.setattr(wisefast.learner, 'cpu_bf16', lambda: True)   # slow without the instructions, but it works
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        train(_tiny(tmp_path/'bf16', '--epochs', '1', '--bf16'))
    assert not [o for o in w if 'fp32' in str(o.message) or 'autocast' in str(o.message)]
    assert calls and pd.read_csv(tmp_path/'bf16'/'history.csv').train_loss.notna().all()
    from fastai.learner import load_learner
    assert not hasattr(load_learner(tmp_path/'bf16'/'export.pkl'), 'mixed_precision')   # fastai's load_learner: fp32 on a CPU
    calls.clear()                                     # compare: each head's learner with its own MixedPrecision
    assert main(['compare', 'digits', '--heads', 'gap,wise', *_tiny_argv(tmp_path/'cmp')[2:], '--epochs', '1', '--bf16']) in (0, None)
    assert len({id(mp) for mp in calls}) == 2 and all((tmp_path/'cmp'/h/'export.pkl').exists() for h in ('gap', 'wise'))
    monkeypatch.setattr(wisefast.learner, 'cpu_bf16', lambda: False); calls.clear()
    with pytest.warns(UserWarning, match='--bf16 needs a CUDA GPU with bfloat16 or a CPU with bfloat16 instructions'):
        train(_tiny(tmp_path/'fp32', '--epochs', '1', '--bf16'))
    assert not calls and (tmp_path/'fp32'/'export.pkl').exists()

def test_diverged_run_fails(tmp_path, capsys):
    "A learning rate that makes the loss NaN: exit code 1, a line saying so, no export."
    assert main(['train', *_tiny_argv(tmp_path), '--epochs', '1', '--lr', '1e30']) == 1
    assert 'training diverged' in capsys.readouterr().err
    assert not (tmp_path/'export.pkl').exists()

def test_default_out_named_after_data_used(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('WISEFAST_SYSTEM_DATA', str(tmp_path/'system'))
    monkeypatch.setenv('FASTAI_HOME', str(tmp_path/'fastai'))
    from fastai.data.external import fastai_cfg
    fastai_cfg.cache_clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('default')                  # its warnings printed, whatever PYTHONWARNINGS says
            assert main(['train', '--arch', 'test_resnet', '--epochs', '1', '--n-per-class', '3,2', '--size', '32']) == 0
    finally: monkeypatch.undo(); fastai_cfg.cache_clear()
    assert (tmp_path/'runs'/'fashion_mnist_sample-test_resnet-wise'/'export.pkl').exists()
    assert 'sample shipped with wisefast' in capsys.readouterr().err

def _tiny_argv(out):
    return ['--data', 'digits', '--arch', 'test_resnet', '--size', '32', '--bs', '16', '--n-per-class', '16,4',
            '--augment', 'none', '--workers', '0', '--out', str(out)]

def _tiny(out, *extra): return train_config(train_parser().parse_args([*_tiny_argv(out), *extra]))

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

def test_train_reestimate_bn(tmp_path, capsys):
    "--reestimate-bn: the exported model and the last checkpoint hold BatchNorm statistics of the training images, the history's last row is theirs"
    import copy, torch
    from fastai.learner import load_learner
    from wisefast.callbacks import ReestimateBN, reestimate_bn
    learn = train(_tiny(tmp_path, '--epochs', '2', '--reestimate-bn', '--threads', '1'))
    bn = lambda m: [t for l in m.modules() if isinstance(l, torch.nn.BatchNorm2d) for t in (l.running_mean, l.running_var)]
    ref = reestimate_bn(copy.deepcopy(learn.model), learn.dls.train.new(shuffle=False, drop_last=False))
    for a, b in zip(bn(learn.model), bn(ref)): torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    exported = load_learner(tmp_path/'export.pkl')
    assert all(torch.equal(a, b) for a, b in zip(bn(exported.model), bn(learn.model)))
    assert not any(isinstance(cb, ReestimateBN) for cb in exported.cbs)          # a training callback, left out
    last = torch.load(tmp_path/'models'/'last.pth', weights_only=False)['model']
    key = next(k for k in last if k.endswith('running_mean'))
    assert torch.equal(last[key], learn.model.state_dict()[key])
    with learn.no_bar(): loss = learn.validate()[0]
    assert pd.read_csv(tmp_path/'history.csv').valid_loss.iloc[-1] == pytest.approx(loss, rel=1e-4)

def test_compare_reestimate_bn(tmp_path, capsys):
    "compare --reestimate-bn: recorded in each head's result; the finished folder refuses the other setting"
    import json
    argv = ['compare', 'digits', '--heads', 'gap', '--arch', 'test_resnet', '--size', '32', '--bs', '16', '--epochs', '1',
            '--n-per-class', '16,4', '--augment', 'none', '--workers', '0', '--threads', '1', '--out', str(tmp_path)]
    assert main([*argv, '--reestimate-bn']) == 0
    assert json.loads((tmp_path/'gap'/'result.json').read_text())['config']['reestimate_bn'] is True
    assert main(argv) == 2 and "'reestimate_bn': (True, False)" in capsys.readouterr().err

def _readme_command(name):
    "The README's `wisefast NAME ...` line, as arguments (its comment dropped)"
    line = next(l for l in (ROOT/'README.md').read_text().splitlines() if l.startswith(f'wisefast {name} '))
    return shlex.split(line.split('#')[0])[1:]

def test_readme_compare_then_gradcam(tmp_path):
    "The README's `wisefast compare ... --out runs/heads`, then its `wisefast gradcam runs/heads/gap runs/heads/wise images/`."
    compare, gradcam = _readme_command('compare'), _readme_command('gradcam')
    assert '--out' in compare and all(p.startswith(compare[compare.index('--out') + 1]) for p in gradcam[1:3])
    quick = ['--epochs', '1', '--n-per-class', '8,4', '--bs', '16', '--workers', '0', '--threads', '1']   # minutes -> seconds
    r = run_cli(*compare, *quick, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path/compare[compare.index('--out') + 1]
    heads = compare[compare.index('--heads') + 1].split(',')
    assert all((out/h/'export.pkl').exists() for h in heads) and (out/'results.md').exists()
    X, y = fashion_mnist('test')
    (tmp_path/'images').mkdir()
    for i in (0, 150, 300): Image.fromarray(X[i]).save(tmp_path/'images'/f'{i}.png')
    r = run_cli(*gradcam, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    fig = tmp_path/gradcam[gradcam.index('--out') + 1] if '--out' in gradcam else tmp_path/'gradcam.png'
    assert fig.stat().st_size > 10_000 and 'on 3 image(s)' in r.stdout
    r = run_cli('predict', str(out/'wise'), str(tmp_path/'images'), cwd=tmp_path)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3, r.stderr
