"""Every timm backbone: the map each family gives a Wise-SrNet head, and a ViT's patch grid against its class token.

    python benchmarks/backbones.py --part table            # each family at 224 and 512 px (a few minutes)
    python benchmarks/backbones.py --part vit              # ViT-Tiny heads on Fashion-MNIST (about an hour on 1 CPU thread)
    python benchmarks/backbones.py --smoke                 # every code path in a minute; writes nothing

**Table.** Each model of `wisefast.models.BACKBONE_FAMILIES`, built by `create_wise_model` at 224 and 512 px (random
weights): timm's layout of its features, the map the head gets, the Wise-SrNet head's pre-pool and the grid after
it, and the head's parameters for 10 classes.

**ViT.** `vit_tiny_patch16_224` from scratch (random weights: timm's cannot be downloaded here) on Fashion-MNIST
(the full dataset when installed, else the sample shipped with wisefast) at `--size` px, `--n-train` images per
class, scored on the whole test split. Heads, with the same body weights and the same batches per seed: timm's own
class-token head (the model timm users train), `head='gap'` (the mean of the patch tokens) and `head='wise'`
(`wise_learner`'s defaults). fastai's `fit_one_cycle(--epochs, --lr)` with Adam, batches of 64, no augmentation.
"""
import argparse, os, shlex, sys
from functools import partial
from pathlib import Path
import pandas as pd, torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fastai_workflows import quiet, seeded_runs, add_study_args, paired, mean_sd, mean_se, _write

VIT_HEADS = ('class token (timm)', 'gap', 'wise')

def _command(): return ' '.join(['python benchmarks/backbones.py', *map(shlex.quote, sys.argv[1:])])

# --------------------------------------------------------------------------------------------------------------- table
def table(sizes) -> str:
    from wisefast.models import BACKBONE_FAMILIES, create_wise_model
    from wisefast.heads import num_params
    rows = []
    for family, arch in BACKBONE_FAMILIES.items():
        row = dict(family=family, model=f'`{arch}`')
        for s in sizes:
            try:
                with quiet(): m = create_wise_model(arch, 10, size=s)
                hd = m[1]
                row['layout'] = getattr(m[0], 'fmt', 'NCHW')
                row[f'{s} px: map'] = f"{m.cfg.nf}×{hd.fmap_size[0]}×{hd.fmap_size[1]}"
                row[f'{s} px: pre-pool → grid'] = f"{hd.prepool} → {hd.grid[0]}×{hd.grid[1]}"
                row[f'{s} px: head params'] = f"{num_params(hd):,}"
            except ValueError as e: row[f'{s} px: map'] = f"error: {e}"
        rows.append(row)
        print(family, row, flush=True)
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)

# ----------------------------------------------------------------------------------------------------------------- ViT
def cls_token_learner(dls, wise_model, size):
    "timm's own ViT (class-token head) with the body weights of `wise_model`, in a plain fastai `Learner`"
    import timm
    from fastai.vision.all import Learner, CrossEntropyLossFlat, accuracy
    m = timm.create_model(wise_model.cfg.arch, num_classes=dls.c, img_size=size)
    missing, unexpected = m.load_state_dict(wise_model[0].model.state_dict(), strict=False)
    assert not unexpected and set(missing) == {'head.weight', 'head.bias'}, (missing, unexpected)
    return Learner(dls, m, loss_func=CrossEntropyLossFlat(), metrics=accuracy)

def vit_run(dls, test, head, arch, size, epochs, lr) -> dict:
    "Train `arch` with `head` (timm's own class-token head, or a `wise_learner` head); test accuracy, epoch-1 valid"
    from fastai.metrics import accuracy
    from wisefast.learner import wise_learner
    learn = wise_learner(dls, arch, head='wise' if head == VIT_HEADS[0] else head, pretrained=False, metrics=accuracy)
    if head == VIT_HEADS[0]: learn = cls_token_learner(dls, learn.model, size)
    learn.fit_one_cycle(epochs, lr)
    first = float(learn.recorder.values[0][2])          # before `validate`, which starts the recorder afresh
    return dict(accuracy=float(learn.validate(dl=learn.dls.test_dl(test, with_labels=True))[1]), first_epoch_valid=first)

def vit(a):
    df, info = seeded_runs(a, [dict(head=h) for h in VIT_HEADS],
                           partial(vit_run, arch=a.arch, size=a.size, epochs=a.epochs, lr=a.lr))
    return df, {**info, 'command': _command()}

def vit_markdown(df, info, a) -> str:
    g = df.groupby('head', sort=False)
    lines = [f"## {a.arch} from scratch: its class token, GAP over the patch tokens, Wise-SrNet", "",
             f"Fashion-MNIST ({info['where']}), {a.n_train} training images per class, {info['n_test']} test images, "
             f"{a.size} px ({a.size // 16}×{a.size // 16} patch grid), `fit_one_cycle({a.epochs}, {a.lr})`, "
             f"{df.seed.nunique()} seeds; {info['minutes']:.0f} min on {a.threads} CPU thread(s).", "",
             "| head | test accuracy, mean ± sd (per seed) | after epoch 1 (valid) | s/run |", "|---|---|---|---|"]
    for h, d in g:
        lines.append(f"| {h} | {mean_sd(d.accuracy)} | {d.first_epoch_valid.mean():.3f} | {d.seconds.mean():.0f} |")
    lines += ["", "Paired differences (same seed, same body weights and batches):", ""]
    for h in ('wise', 'gap'):
        for base in VIT_HEADS:
            if base == h or (h, base) == ('gap', 'wise'): continue
            d = paired(df.assign(workflow='vit', budget='-'), h, base)
            lines.append("- {} − {}: {:+.2f} points (SE {:.2f}, {} seeds)".format(h, base, *mean_se(d), len(d)))
    lines += ["", f"Reproduce: `{info['command']}`", ""]
    return '\n'.join(lines)

# ---------------------------------------------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--part', choices=('table', 'vit', 'both'), default='both')
    p.add_argument('--sizes', default='224,512')
    p.add_argument('--arch', default='vit_tiny_patch16_224')
    p.add_argument('--lr', type=float, default=1e-3)
    add_study_args(p, n_train=500, epochs=10, size=96)
    a = p.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
    torch.set_num_threads(a.threads)
    sizes = [int(s) for s in a.sizes.split(',')]
    if a.smoke: sizes, a.seeds, a.epochs, a.n_train, a.n_test, a.n_valid, a.size = [64], 1, 1, 5, 5, 20, 64
    out = Path(a.out)
    a.csv = None if a.smoke else str(out/'vit_heads.csv')
    parts = {}
    if a.part in ('table', 'both'):
        parts['table'] = (f"## Every family at {' and '.join(map(str, sizes))} px\n\nBuilt with random weights; with "
                          f"pretrained weights LeViT and MLP-Mixer take only their own size (timm cannot resize them).\n\n"
                          f"{table(sizes)}\n\n"
                          f"Reproduce: `{_command()}`\n")
    if a.part in ('vit', 'both'):
        df, info = vit(a)
        parts['vit'] = vit_markdown(df, info, a)
    for name, md in parts.items():
        print(md)
        if not a.smoke:
            title = {'table': '# timm backbones: the map each family gives the head',
                     'vit': '# A ViT\'s patch grid: class token, GAP, Wise-SrNet'}[name]
            _write(out/('backbones.md' if name == 'table' else 'vit_heads.md'), f"{title}\n\n{md}")

if __name__ == '__main__': main()
