#!/usr/bin/env python
"""What does wisefast's channels-last collate buy on a CPU? A training step on channels-last batches against the same
step on contiguous ones, family by family, side by side.

    python benchmarks/channels_last.py            # results/channels_last.md (about 10 min on a CPU)
    python benchmarks/channels_last.py --smoke    # two families, a few steps, nothing written

`WiseDL` collates every image batch channels-last (`wise_collate`: the pixels are stacked as `H×W×C`). Each family
below (its tiniest timm configuration, a Wise-SrNet head, 64 px, batches of 32, one torch thread) trains on the same
batch in both memory formats, the two interleaved `--repeats` times in one process; images per second of a training
step (forward, backward, SGD) and the ratio of the medians. Each family runs in a subprocess, so a crash of PyTorch's
CPU kernels is recorded instead of ending the run. `wise_learner` keeps the batches of the families where channels-last
is slower or crashes contiguous (`wisefast.learner.CONTIGUOUS_FAMILIES`); this table is why.
"""
import argparse, json, statistics, subprocess, sys, time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent/'results'
FAMILIES = {'ResNet': 'resnet10t', 'ConvNeXt': 'convnext_atto', 'EfficientNet': 'efficientnet_b0',
            'MobileNetV3': 'mobilenetv3_small_050', 'RegNet': 'regnetx_002', 'DenseNet': 'densenet121',
            'ViT': 'vit_tiny_patch16_224', 'Swin': 'swin_tiny_patch4_window7_224', 'MobileViT': 'mobilevit_xxs',
            'FastViT': 'fastvit_t8'}

def measure(arch:str, repeats:int, steps:int, bs:int=32, size:int=64) -> dict:
    "Images/s of a training step on channels-last and on contiguous batches, interleaved (in this process)"
    import torch, warnings
    from wisefast.models import create_wise_model
    torch.set_num_threads(1); torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = create_wise_model(arch, 10, size=size, head='wise').train()
    opt = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)
    x, y = torch.rand(bs, size, size, 3), torch.randint(0, 10, (bs,))
    batches = {'channels-last': x.permute(0, 3, 1, 2), 'contiguous': x.permute(0, 3, 1, 2).contiguous()}
    def step(xb):
        torch.nn.functional.cross_entropy(m(xb), y).backward(); opt.step(); opt.zero_grad()
    for xb in batches.values(): step(xb)                           # warm-up
    rates = {k: [] for k in batches}
    for _ in range(repeats):
        for k, xb in batches.items():
            t = time.perf_counter()
            for _ in range(steps): step(xb)
            rates[k].append(bs * steps / (time.perf_counter() - t))
    return rates

def run_family(arch:str, repeats:int, steps:int) -> dict:
    "`measure` in a subprocess: its rates, or how it died"
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import channels_last as c; " \
           f"print(json.dumps(c.measure({arch!r}, {repeats}, {steps})))"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    if r.returncode: return dict(error=f"exit code {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1][:120]}")
    return json.loads(r.stdout.strip().splitlines()[-1])

def main(argv=None):
    import pandas as pd
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--smoke', action='store_true')
    a = p.parse_args(argv)
    fams = dict(list(FAMILIES.items())[:2]) if a.smoke else FAMILIES
    rows = []
    for fam, arch in fams.items():
        r = run_family(arch, 2 if a.smoke else a.repeats, 1 if a.smoke else a.steps)
        if 'error' in r: rows.append(dict(family=fam, arch=arch, result=r['error'])); continue
        cl, ct = (statistics.median(r[k]) for k in ('channels-last', 'contiguous'))
        ratios = [c / d for c, d in zip(r['channels-last'], r['contiguous'])]
        rows.append(dict(family=fam, arch=arch, **{'channels-last (img/s)': round(cl, 1), 'contiguous (img/s)': round(ct, 1),
                         'channels-last / contiguous': f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"}))
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    if not a.smoke:
        from wisefast.files import write_atomic
        from wisefast.experiments import results_markdown
        cmd = ' '.join(['python benchmarks/channels_last.py', *(argv if argv is not None else sys.argv[1:])])
        write_atomic(RESULTS/'channels_last.md', f"# Channels-last batches on a CPU\n\n{__doc__.split(chr(10) * 2, 2)[2].strip()}"
                     f"\n\nReproduce: `{cmd}` (ranges: the ratio within each repeat).\n\n{results_markdown(df.fillna(''))}")
    return df

if __name__ == '__main__': main()
