"The augmentation benchmark runs end to end (tiny sizes; no timing is asserted) and reports every row and ratio."
import os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).parents[1]

def test_augment_throughput_smoke(tmp_path):
    out = tmp_path/'aug.md'
    env = {**os.environ, 'NO_ALBUMENTATIONS_UPDATE': '1', 'HF_HUB_OFFLINE': '1'}
    subprocess.run([sys.executable, 'benchmarks/augment_throughput.py', '--n', '24', '--rounds', '1', '--repeat', '2', '--bs', '16',
                    '--out', str(out)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    text = out.read_text()
    for row in ('Keras `ImageDataGenerator`', 'wisefast `table3`', 'resize only', 'wisefast `table3_batch`',
                'Keras `flow_from_directory`'):
        assert re.search(rf'\| {re.escape(row)}[^|]*\| \d+ \|', text), row
    for ratio in ('`table3` / Keras', '`table3` / resize only'):
        m = re.search(rf'\| {re.escape(ratio)} \| ([\d.]+)x \| ([\d.]+)x \| ([\d.]+)x \|', text)
        assert m and all(float(v) > 0 for v in m.groups()), ratio
    assert re.search(r'\| wisefast `table3` \(albumentations\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|', text)   # CPU ms per image

def test_fastai_workflows_smoke():
    "Every workflow, head and throughput pipeline of benchmarks/fastai_workflows.py runs (tiny budgets, nothing written)"
    env = {**os.environ, 'NO_ALBUMENTATIONS_UPDATE': '1', 'HF_HUB_OFFLINE': '1'}
    r = subprocess.run([sys.executable, 'benchmarks/fastai_workflows.py', '--smoke'], cwd=ROOT, env=env, check=True,
                       capture_output=True, text=True, timeout=900)
    for wf in ('fit_one_cycle', 'lr_find', 'fine_tune', 'staircase'):
        assert re.search(rf'\| {wf} +\| short', r.stdout) and re.search(rf'\| {wf} +\| long', r.stdout), wf
    assert '**Goal: the default Wise-SrNet head within 0.5 points of GAP' in r.stdout
    for row in ('wise_learner', 'vision_learner', 'forward+backward, channels-last'):
        assert re.search(rf'\| {re.escape(row)} \| \d+ \|', r.stdout), row
    assert re.search(r'wise_learner / vision_learner: [\d.]+×', r.stdout)
