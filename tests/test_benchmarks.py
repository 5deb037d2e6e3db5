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
    for row in ('wise_learner', "wise_learner, opt_func=Adam (fastai's)", 'vision_learner', "model's own step: forward + "
                "backward + the learner's optimiser (FusedAdam), channels-last", "forward + backward + fastai's Adam, channels-last"):
        assert re.search(rf'\| {re.escape(row)} \| \d+ \|', r.stdout), row
    assert re.search(r"One optimiser step alone over resnet10t's \d+ tensors .*: fastai's Adam [\d.]+ ms, FusedAdam [\d.]+ ms", r.stdout)
    assert re.search(r"wise_learner / vision_learner: [\d.]+× .*wise_learner / the model's own step \(its faster memory "
                     r"format\): [\d.]+ \(repeats [\d.]+–[\d.]+; goal ≥ 0\.95", r.stdout)
    for part in ('waiting for the first batch', 'between steps', 'steps (forward', 'end (the DataLoader stopped)'):
        assert re.search(rf'\| {re.escape(part)}[^|]*\| [\d.]+ s \| [\d.]+ s \|', r.stdout), part

def test_backbones_smoke():
    "benchmarks/backbones.py: the family table and the ViT heads study run (tiny budgets, nothing written)"
    env = {**os.environ, 'NO_ALBUMENTATIONS_UPDATE': '1', 'HF_HUB_OFFLINE': '1'}
    r = subprocess.run([sys.executable, 'benchmarks/backbones.py', '--smoke'], cwd=ROOT, env=env, check=True,
                       capture_output=True, text=True, timeout=900)
    assert re.search(r'\| Swin +\| `swin_tiny_patch4_window7_224` +\| NHWC +\| 768×2×2 ', r.stdout)
    assert re.search(r'\| ViT +\| `vit_tiny_patch16_224` +\| NLC +\| 192×4×4 ', r.stdout)
    for head in ('class token (timm)', 'gap', 'wise'): assert re.search(rf'\| {re.escape(head)} \| 0\.\d+ ± ', r.stdout), head

def test_recalibration_smoke():
    "benchmarks/recalibration.py: the overhead table and the study run (tiny budgets, nothing written)"
    env = {**os.environ, 'NO_ALBUMENTATIONS_UPDATE': '1', 'HF_HUB_OFFLINE': '1'}
    r = subprocess.run([sys.executable, 'benchmarks/recalibration.py', '--smoke'], cwd=ROOT, env=env, check=True,
                       capture_output=True, text=True, timeout=900)
    for arch in ('resnet18', 'densenet121'):
        for kind in ('none', 'se', 'ms_sar'):
            assert re.search(rf'\| {arch} +\| {kind} +\| [\d.]+ M +\| [+\d.]+% ', r.stdout), (arch, kind)
    for bb in ('test_resnet', 'small DenseNet'):
        for head in ('gap', 'wise'): assert re.search(rf'\| {bb} \| {head} \| 0\.\d+ ± ', r.stdout), (bb, head)

def test_head_study_smoke(tmp_path):
    "benchmarks/head_study.py: two tasks, two seeds, `wisefast compare` runs, then the CSVs, the table with costs and the curves"
    env = {**os.environ, 'NO_ALBUMENTATIONS_UPDATE': '1', 'HF_HUB_OFFLINE': '1', 'MPLBACKEND': 'Agg'}
    cmd = [sys.executable, 'benchmarks/head_study.py', '--cells', 'mosaic_where:4,fashion_mnist:4', '--heads',
           'gap:default,wise:default,wise:paper', '--seeds', '0,1', '--epochs', '1', '--n-train', '3', '--n-test', '2',
           '--out', str(tmp_path), '--runs', str(tmp_path/'runs')]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)
    import pandas as pd
    df = pd.read_csv(tmp_path/'head_study.csv')
    assert {'task', 'map', 'head', 'init', 'seed', 'epochs', 'final_top1', 'best_top1', 'seconds'} <= set(df.columns)
    assert len(df) == 2 * 2 * 3 and set(df.task) == {'mosaic_where', 'fashion_mnist'} and set(df.init) == {'default', 'paper'}
    assert (df.n_train == df.task.map(dict(mosaic_where=120, fashion_mnist=30))).all()   # 3 per class: 40 and 10 classes
    assert df.best_top1.ge(df.final_top1).all() and df.final_top1.between(0, 1).all()
    curves = pd.read_csv(tmp_path/'head_study_curves.csv')
    assert len(curves) == len(df) and set(curves.epoch) == {1}
    md = (tmp_path/'head_study.md').read_text()
    assert re.search(r'\| wise:default +\| +2 \| [\d.]+ ± [\d.]+ +\| [\d.]+ ± [\d.]+ +\| [+-][\d.]+ ± [\d.]+ +\| '
                     r'[\d.]+ ± [\d.]+ +\| [\d.]+ ± [\d.]+ +\| +5,512 \| +[\d.]+ \| [\d.]+×', md)   # BatchNorm probe columns
    assert (df.n_test == df.task.map(dict(mosaic_where=80, fashion_mnist=20))).all()   # --n-test 2 per class
    assert 'wisefast compare mosaic_where --arch test_resnet --size 32' in md and "--n-per-class 3,2 --test-as-valid" in md
    assert "80 test images (2 of each class), 1 epoch: `python benchmarks/head_study.py --cells mosaic_where:4 --heads gap:default,wise:default,wise:paper --epochs 1 --n-test 2`" in md
    assert "One seed's command (`--seed 1` for the others):" in md                 # the seeds the cell has
    assert (tmp_path/'head_study.png').stat().st_size > 10_000
    r = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=900)
    assert '[compare]' not in r.stdout and len(pd.read_csv(tmp_path/'head_study.csv')) == len(df)   # resumed: nothing trained again
    more = [*cmd[:2], '--cells', 'mosaic_where:4', '--heads', 'gap:default,fastai:default', '--seeds', '0', *cmd[8:]]
    r = subprocess.run(more, cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=900)
    assert "seed 0: fastai:default ->" in r.stdout                      # a head added to a cell: only it is trained
    df2 = pd.read_csv(tmp_path/'head_study.csv')
    assert len(df2) == len(df) + 1 and df2.iloc[-1][['task', 'head', 'seed']].tolist() == ['mosaic_where', 'fastai', 0]
    run = pd.read_csv(tmp_path/'runs'/'mosaic_where_4x4'/'s0'/'results.csv')   # the run's table keeps the heads done before
    assert len(run) == 4

def test_inference_smoke():
    "benchmarks/inference.py: `wisefast predict`, `get_preds` and ONNX Runtime against the forward pass (tiny, nothing written)"
    env = {**os.environ, 'NO_ALBUMENTATIONS_UPDATE': '1', 'HF_HUB_OFFLINE': '1'}
    r = subprocess.run([sys.executable, 'benchmarks/inference.py', '--smoke'], cwd=ROOT, env=env, check=True,
                       capture_output=True, text=True, timeout=900)
    assert re.search(r'\| model forward \(channels-last, in memory\) \| \d+ \| \d+–\d+ \|  \|', r.stdout)
    for row in ('`wisefast predict --workers 0 --csv`', '`wisefast predict --workers 1 --csv`',
                'fastai `get_preds` (`num_workers=1`)', 'ONNX Runtime (in memory, 1 thread)'):
        assert re.search(rf'\| {re.escape(row)} \| \d+ \| \d+–\d+ \| [\d.]+ \([\d.]+–[\d.]+\) \|', r.stdout), row
    assert re.search(r"\*\*Goal: `wisefast predict` at ≥ 0\.9 of the model's forward pass: (met|not met)\*\* "
                     r"\(wisefast predict --workers \d --csv: [\d.]+ in wall time", r.stdout)

def test_device_check_smoke(tmp_path):
    "benchmarks/device_check.py --smoke: every part on the CPU, a JSON and a Markdown table of each in the folder given"
    import json
    env = {**os.environ, 'NO_ALBUMENTATIONS_UPDATE': '1', 'HF_HUB_OFFLINE': '1', 'CUDA_VISIBLE_DEVICES': ''}
    subprocess.run([sys.executable, 'benchmarks/device_check.py', '--smoke', '--out', str(tmp_path)], cwd=ROOT, env=env,
                   check=True, capture_output=True, text=True, timeout=900)
    res = json.loads((tmp_path/'device_check.json').read_text())
    assert list(res['parts']) == ['training', 'head', 'recalibration', 'study']
    assert not [p['error'] for p in res['parts'].values() if 'error' in p]
    tr = res['parts']['training']
    assert {'wise_learner: model\'s own step (in memory)', 'vision_learner: learn.fit, JPEG files (DataLoader)'} <= set(tr['rows'])
    assert all(v['images_per_s'] > 0 for v in tr['rows'].values()) and tr['info']['mixed_precision'] is False
    assert {'wise / gap, 64 px', 'wise / gap, 128 px'} <= set(res['parts']['head']['rows'])
    assert set(res['parts']['recalibration']['rows']) == {'none', 'se', 'ms_sar', 'ms_sar, output'}
    assert res['parts']['recalibration']['rows']['none']['train_vs_none'] == 1
    study = res['parts']['study']
    assert len(study['rows']) == 8 and study['rows']['gap:default']['final_minus_gap'] == 0 and study['info']['epochs'] >= 1
    assert study['info']['command'].startswith('wisefast compare mosaic_where --arch test_resnet --size 128 --output-stride 8')
    md = (tmp_path/'device_check.md').read_text()
    for title in ('## 1. Training', '## 2. Head', '## 3. Recalibration', '## 4. Head study'): assert title in md
    assert re.search(r'\| wise:default \| [\d.]+ \| [\d.]+ \| [+-][\d.]+ \| [\d.]+ \|', md)

def test_reliability_trial_smoke():
    "benchmarks/reliability_trial.py --smoke: a case or two of every group, each classified by what a user sees (nothing written)"
    env = {**os.environ, 'NO_ALBUMENTATIONS_UPDATE': '1', 'HF_HUB_OFFLINE': '1', 'MPLBACKEND': 'Agg'}
    r = subprocess.run([sys.executable, 'benchmarks/reliability_trial.py', '--smoke'], cwd=ROOT, env=env, check=True,
                       capture_output=True, text=True, timeout=900)
    cases = re.findall(r'^\[([^\]]+)\] (.+?): ([a-z ]+) \([\d.]+ s\)', r.stdout, re.M)
    assert {g for g, *_ in cases} == {'archives', 'folders', 'downloads', 'command line', 'crash safety', 'model files', 'API'}
    assert all(o in ('clear error', 'warned', 'handled') for *_, o in cases), cases
    assert re.search(rf'^ +all +{len(cases)} ', r.stdout, re.M), r.stdout[-2000:]

def _head_study():
    "benchmarks/head_study.py as a module"
    sys.path.insert(0, str(ROOT/'benchmarks'))
    try: import head_study
    finally: sys.path.remove(str(ROOT/'benchmarks'))
    return head_study

def test_head_study_pretrain_note():
    "Only the cell with a seed from the second pre-training says which backbone each seed started from"
    import pandas as pd
    hs = _head_study()
    df = hs.read_rows(ROOT/'benchmarks/results/head_study.csv')
    md = hs.markdown(df, pd.read_csv(ROOT/'benchmarks/results/head_study_cost.csv'), hs.parse_args([]), '')
    noted = [s.splitlines()[0] for s in md.split('\n## ') if hs.PRETRAIN_RUNS['fashion_mnist:32'][1] in s]
    assert noted == ['mosaic_where 16×16, pre-trained (fashion_mnist:32), staircase (128 px)']
    assert "One seed's command (`--seed 1`, `--seed 2`, `--seed 3` for the others):" in md

def test_head_study_mean_sd():
    "head_study's table cells: mean ± sd over seeds, the mean alone (no '± 0.00') for one seed; paired differences signed"
    hs = _head_study()
    assert hs._mean_sd([.8, .9]) == '85.00 ± 7.07' and hs._mean_sd([.8]) == '80.00'
    assert hs._mean_sd([18.125], scale=1, sign=True) == '+18.12' and hs._mean_sd([-1., 1.], scale=1, sign=True) == '+0.00 ± 1.41'

def test_readme_tables_are_the_studys():
    "The README's head-study tables are what `head_study.py --report --readme README.md` makes of the committed CSV"
    hs = _head_study()
    readme = (ROOT/'README.md').read_text()
    tables = hs.readme_tables(hs.read_rows(ROOT/'benchmarks/results/head_study.csv'))
    assert set(tables) == {'one_cycle', 'staircase', 'learning_rates', 'transfer'}
    assert hs.with_readme_tables(readme, tables) == readme, \
        "the README's head-study tables are not the CSV's: run python benchmarks/head_study.py --report --readme README.md"

def test_head_study_with_readme_tables():
    "`--readme` replaces the table under each marker line, the text around it kept; a missing marker says what to add"
    import pytest
    hs = _head_study()
    text = f"intro\n\n{hs.README_MARK.format('a')}| x |\n|---|\n| 1 |\n\nafter\n{hs.README_MARK.format('b')}| y |\n"
    out = hs.with_readme_tables(text, {'a': '| x |\n|---|\n| 2 |\n', 'b': '| y |\n|---|\n| 3 |\n'})
    assert out == f"intro\n\n{hs.README_MARK.format('a')}| x |\n|---|\n| 2 |\n\nafter\n{hs.README_MARK.format('b')}| y |\n|---|\n| 3 |\n"
    with pytest.raises(SystemExit, match="no line '<!-- head_study.py --readme: c -->'"): hs.with_readme_tables(text, {'c': '| z |'})

def test_head_study_lr_sweeps():
    "head_study's learning-rate table: a setting run at three or more rates, its heads in the order the study ran them"
    import pandas as pd
    head_study = _head_study()
    cell = dict(task='mosaic_where', map=16, schedule='staircase', pretrained='none', bn_momentum=0.1)
    runs = [(0.045, 'gap', 'default', 0, .2), (0.045, 'gap', 'default', 1, .4), (0.045, 'wise', 'paper', 0, .8),
            (0.1, 'gap', 'default', 0, .5), (0.005, 'wise', 'paper', 0, .6), (0.005, 'gap', 'default', 0, .3)]
    df = pd.DataFrame([dict(cell, lr=lr, head=h, init=i, seed=s, final_top1=f, best_top1=.9, bn_reest_top1=.85)
                       for lr, h, i, s, f in runs])
    (title, table), = head_study.lr_sweeps(df)
    assert 'staircase' in title and list(table.columns) == ['lr', 'gap:default', 'wise:paper']
    assert table.lr.tolist() == ['0.005', '0.045', '0.1']
    assert table.iloc[1]['gap:default'] == '30.0 (90.0) → 85.0 [2 seeds]' and table.iloc[2]['wise:paper'] == 'not run'
    assert head_study.lr_sweeps(df[df.lr != 0.1]) == []                  # two rates: no table

def test_recalibration_report(tmp_path):
    "benchmarks/recalibration.py --report: one table from the CSVs of runs made apart, a later CSV's run replacing an earlier one's"
    import pandas as pd
    rows = [dict(seed=s, backbone='test_resnet', recalibration=k, head=h, accuracy=0.8, seconds=60.)
            for s in (0, 1) for k in ('none', 'se', 'ms_sar', 'ms_sar, output') for h in ('gap', 'wise')]
    pd.DataFrame(rows).to_csv(tmp_path/'a.csv', index=False)
    pd.DataFrame([{**rows[2], 'accuracy': 0.9}]).to_csv(tmp_path/'b.csv', index=False)   # seed 0, se, gap again
    env = {**os.environ, 'NO_ALBUMENTATIONS_UPDATE': '1', 'HF_HUB_OFFLINE': '1'}
    r = subprocess.run([sys.executable, 'benchmarks/recalibration.py', '--part', 'study', '--smoke', '--report',
                        str(tmp_path/'a.csv'), str(tmp_path/'b.csv')], cwd=ROOT, env=env, check=True,
                       capture_output=True, text=True, timeout=300)
    assert '| test_resnet | gap | 0.8000 ± 0.0000 (0.800, 0.800) | 0.8500 ± 0.0707 (0.900, 0.800) | ' in r.stdout
    assert re.search(r'\| test_resnet \| wise \|( [^|]+ \|){4} \+0\.00 \(0\.00\) \|( [^|]+ \|){2} \+0\.00 \(0\.00\) \|', r.stdout)
    assert '16 CPU-minutes' in r.stdout and '2 seeds' in r.stdout
