"""Sharing through the Hugging Face Hub from the command line: `wisefast train --push-to-hub`, `wisefast predict` on a
`save_pretrained` folder, a .safetensors file and a Hub id (offline, from a cache laid out by the test)."""
import json, os, shutil, subprocess, sys
from pathlib import Path
from unittest import mock
import pytest, yaml
from wisefast.cli import main
from wisefast.datasets import digits_folder

WISEFAST = str(Path(sys.executable).parent/'wisefast')

@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    "No Hugging Face token anywhere: not in the environment, not in a token file"
    monkeypatch.delenv('HF_TOKEN', raising=False)
    monkeypatch.setattr('huggingface_hub.get_token', lambda: None)

def _argv(out, *extra):
    return ['train', '--data', 'digits', '--arch', 'test_resnet', '--size', '32', '--bs', '16', '--n-per-class', '16,4',
            '--augment', 'none', '--workers', '0', '--epochs', '1', '--out', str(out), *extra]

def test_push_without_credentials_stops_before_training(tmp_path, no_credentials, capsys):
    assert main(_argv(tmp_path/'run', '--push-to-hub', 'me/digits')) == 2
    assert 'hf auth login' in capsys.readouterr().err and not (tmp_path/'run'/'history.csv').exists()
    assert main(_argv(tmp_path/'run', '--push-to-hub', 'not an id')) == 2

class FakeApi:
    "Stand-in for `huggingface_hub.HfApi` (no network here): records the calls and keeps a copy of what it was given"
    calls = []
    def __init__(self, token=None): pass
    def create_repo(self, repo_id, **kw): FakeApi.calls.append(('create_repo', repo_id, kw))
    def upload_folder(self, repo_id, folder_path, **kw):
        FakeApi.calls.append(('upload_folder', repo_id, sorted(p.name for p in Path(folder_path).iterdir())))
        shutil.copytree(folder_path, FakeApi.uploaded)
        return mock.Mock(commit_url=f'https://huggingface.co/{repo_id}/commit/0')

def test_placement_without_recalibration_says_so(tmp_path, capsys):
    assert main(_argv(tmp_path/'run', '--recalibration-placement', 'narrow')) == 2
    assert "recalibration='ms_sar'" in capsys.readouterr().err and not (tmp_path/'run'/'history.csv').exists()

def test_train_recalibrated_push_then_predict_everywhere(tmp_path, monkeypatch, capsys):
    "MS-SAR inside, pushed with its card; then predict on export.pkl, .safetensors, the folder and the Hub id agree"
    run, FakeApi.uploaded, FakeApi.calls = tmp_path/'run', tmp_path/'uploaded', []
    monkeypatch.setenv('HF_TOKEN', 'hf_test')
    with mock.patch('huggingface_hub.HfApi', FakeApi):
        assert main(_argv(run, '--recalibration', 'ms_sar', '--recalibration-placement', 'output', '--push-to-hub', 'me/digits')) == 0
    assert 'Uploaded to https://huggingface.co/me/digits' in capsys.readouterr().out
    assert FakeApi.calls == [('create_repo', 'me/digits', dict(private=None, exist_ok=True)),
                             ('upload_folder', 'me/digits', ['README.md', 'config.json', 'curves.png', 'model.safetensors'])]
    config = json.loads((FakeApi.uploaded/'config.json').read_text())
    assert config['config']['recalibration'] == 'ms_sar' and config['config']['vocab'] == [str(i) for i in range(10)]
    assert config['config']['recalibration_placement'] == 'output'
    meta = yaml.safe_load((FakeApi.uploaded/'README.md').read_text().split('---')[1])
    assert meta['datasets'] == ['digits'] and set(meta['metrics']) == {'accuracy', 'top5_accuracy'}
    assert (run/'hub'/'model.safetensors').exists()            # kept in the run folder, for a later upload

    cache, commit = tmp_path/'hub-cache', 'b' * 40              # the Hub client's cache layout, offline
    shutil.copytree(FakeApi.uploaded, cache/'models--me--digits'/'snapshots'/commit)
    (cache/'models--me--digits'/'refs').mkdir(); (cache/'models--me--digits'/'refs'/'main').write_text(commit)
    imgs = sorted((digits_folder()/'test'/'3').glob('*.png'))[:5]
    outs = {}
    for model in (run/'export.pkl', run/'hub'/'model.safetensors', run/'hub'):
        assert main(['predict', str(model), *map(str, imgs)]) == 0, model
        outs[str(model)] = [l.split('\t') for l in capsys.readouterr().out.strip().splitlines()]
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_HUB_CACHE': str(cache)}   # read when huggingface_hub is imported
    for model in ('me/digits', 'hf-hub:me/digits'):              # a fresh process, as a user's shell runs it
        r = subprocess.run([WISEFAST, 'predict', model, *map(str, imgs)], capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        outs[model] = [l.split('\t') for l in r.stdout.strip().splitlines()]
    ref = outs.pop(str(run/'export.pkl'))
    for model, lines in outs.items():
        assert [l[:2] for l in lines] == [l[:2] for l in ref], model
        assert all(abs(float(a[2]) - float(b[2])) < 1e-3 for a, b in zip(lines, ref)), model

def test_predict_unknown_hub_id_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path))
    img = next((digits_folder()/'test'/'3').glob('*.png'))
    assert main(['predict', 'me/never-downloaded', str(img)]) == 2
    assert 'neither a local folder nor a model in the Hugging Face cache' in capsys.readouterr().err
