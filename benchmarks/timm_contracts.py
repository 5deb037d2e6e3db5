#!/usr/bin/env python
"""timm's and PyTorch's model contracts, checked on WiseModels beside the plain timm model they are built on.

    python benchmarks/timm_contracts.py                 # the default families, every head: results/timm_contracts.md
    python benchmarks/timm_contracts.py --families all  # every family below (about 20 min on a CPU)
    python benchmarks/timm_contracts.py --smoke         # one head per family, nothing written

The checks are timm's own model tests (`tests/test_models.py`: forward, backward with a gradient for every parameter,
the default cfg, `forward_features` / `forward_head` with `pre_logits`, `forward_intermediates`, `reset_classifier`,
TorchScript, fx feature extraction) plus `torch.jit.trace`, `torch.export` with a dynamic batch and `torch.compile`
(the `aot_eager` backend: dynamo's graph capture and AOT autograd, without a C++ compiler). Every check runs on the
plain timm model (`timm.create_model(arch, num_classes=7)`, at its own default-cfg size for the cfg check) and on a
WiseModel with each head of the registry (`create_wise_model(arch, 7, size=64, head=...)`). The rule the tests hold
wisefast to: every check that passes for the plain timm model passes for each of its WiseModels; a check the plain
model fails too is marked so.
"""
import argparse, copy, sys, time, warnings
from pathlib import Path
import torch, timm

RESULTS = Path(__file__).resolve().parent/'results'
FAMILIES = {'CNN': 'test_resnet', 'channels-last (NHWC)': 'test_mambaout', 'ViT': 'test_vit'}
MORE_FAMILIES = {'ResNet': 'resnet10t', 'ConvNeXt': 'convnext_atto', 'EfficientNet': 'efficientnet_b0',
                 'RegNet': 'regnetx_002', 'DenseNet': 'densenet121', 'Swin': 'swin_tiny_patch4_window7_224',
                 'DeiT (distilled)': 'deit_tiny_distilled_patch16_224', 'EVA-02': 'eva02_tiny_patch14_224',
                 'FastViT': 'fastvit_t8', 'MobileViT': 'mobilevit_xxs', 'LeViT': 'levit_128s'}
SIZE, N_OUT, BS = 64, 7, 2
PLAIN = 'plain timm'

def build(arch:str, head:str, scriptable:bool=False, size:int=SIZE) -> torch.nn.Module:
    "A WiseModel of `arch` with `head`, or the plain timm model (`head=PLAIN`), built as timm's tests build models"
    from wisefast.models import create_wise_model
    with timm.layers.set_layer_config(scriptable=scriptable), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if head == PLAIN:
            fixed = timm.get_pretrained_cfg(arch).fixed_input_size
            return timm.create_model(arch, num_classes=N_OUT, **({'img_size': size} if fixed else {})).eval()
        return create_wise_model(arch, N_OUT, size=size, head=head).eval()

def _input(m, bs=BS, size=None) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(bs, 3, *(size or m.pretrained_cfg['input_size'][1:]))

def _close(a, b, what, atol=1e-4):
    if not torch.allclose(a, b, atol=atol, rtol=1e-4): raise AssertionError(f"{what}: |Δ| = {(a - b).abs().max():.2e}")

# ---------------------------------------------------------------------------------------------------------- checks
def check_forward(arch, head):
    m = build(arch, head); x = _input(m)
    with torch.no_grad(): out = m(x)
    assert out.shape == (BS, N_OUT) and torch.isfinite(out).all(), tuple(out.shape)

def check_backward(arch, head):
    m = build(arch, head).train()
    m(_input(m)).mean().backward()
    missing = [n for n, p in m.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing[:3]}"

def check_default_cfg(arch, head):
    "timm's `test_model_default_cfgs`: features, pooled features, classifier and first conv as the cfg says"
    m = build(arch, head); cfg, sd = m.pretrained_cfg, m.state_dict()
    x = _input(m, 1)
    with torch.no_grad():
        f = m.forward_features(x)
        assert (f.shape[1] if f.ndim == 4 and getattr(m, 'output_fmt', 'NCHW') == 'NCHW' else f.shape[-1]) == m.num_features, \
            f"forward_features gives {tuple(f.shape)}, num_features={m.num_features}"
        m.reset_classifier(0)
        out = m(x)
        assert out.ndim == 2 and out.shape[1] == getattr(m, 'head_hidden_size', m.num_features), \
            f"reset_classifier(0) gives {tuple(out.shape)}, head_hidden_size={getattr(m, 'head_hidden_size', None)}"
    for c in (cfg['classifier'],) if isinstance(cfg['classifier'], str) else cfg['classifier']:
        assert c + '.weight' in sd, f"classifier {c!r} not in the state dict"
    for c in (cfg['first_conv'],) if isinstance(cfg['first_conv'], str) else cfg['first_conv']:
        assert c + '.weight' in sd, f"first_conv {c!r} not in the state dict"
    assert timm.data.resolve_data_config(model=m)['input_size'] == tuple(cfg['input_size'])

def check_features_head(arch, head):
    m = build(arch, head); x = _input(m)
    with torch.no_grad():
        _close(m.forward_head(m.forward_features(x)), m(x), "forward_head(forward_features(x)) vs forward(x)")
        pre = m.forward_head(m.forward_features(x), pre_logits=True)
    assert pre.shape == (BS, getattr(m, 'head_hidden_size', m.num_features)), tuple(pre.shape)

def check_intermediates(arch, head):
    m = build(arch, head); x = _input(m)
    with torch.no_grad(): out = m.forward_intermediates(x, indices=1, intermediates_only=True)
    assert len(out) == 1 and out[0].ndim == 4 and out[0].shape[0] == BS, [tuple(o.shape) for o in out]

def check_reset_classifier(arch, head):
    m = build(arch, head); x = _input(m)
    hidden = getattr(m, 'head_hidden_size', m.num_features)
    for n in (0, 4, 0, N_OUT):
        m.reset_classifier(n)
        with torch.no_grad(): out = m.eval()(x)
        assert out.shape == (BS, n or hidden) and m.num_classes == n, f"reset_classifier({n}): {tuple(out.shape)}, num_classes={m.num_classes}"

def check_torchscript(arch, head):
    m = build(arch, head, scriptable=True); x = _input(m)
    s = torch.jit.script(m)
    with torch.no_grad(): _close(s(x), m(x), "scripted vs eager")

def check_fx(arch, head):
    "timm's `test_model_forward_fx`: its fx feature extraction of the last node equals the model"
    from timm.models._features_fx import create_feature_extractor, get_graph_node_names
    m = build(arch, head); x = _input(m)
    _, nodes = get_graph_node_names(m)
    fx = create_feature_extractor(m, return_nodes=[nodes[-1]])
    with torch.no_grad(): _close(next(iter(fx(x).values())), m(x), "fx vs eager")

def check_jit_trace(arch, head):
    m = build(arch, head); x = _input(m)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        t = torch.jit.trace(m, x)
        y = torch.randn_like(x)
        _close(t(y), m(y), "traced vs eager")

def check_export(arch, head):
    m = build(arch, head); x = _input(m)
    ep = torch.export.export(m, (x,), dynamic_shapes=({0: torch.export.Dim('batch', min=1, max=64)},))
    y = _input(m, bs=3)
    with torch.no_grad(): _close(ep.module()(y), m(y), "exported (batch of 3) vs eager")

def check_compile(arch, head, backend='aot_eager'):
    import torch._dynamo
    torch._dynamo.reset()
    m = build(arch, head); x = _input(m)
    with torch.no_grad(): _close(torch.compile(m, backend=backend)(x), m(x), f"compiled ({backend}) vs eager")

CHECKS = {'forward': check_forward, 'backward': check_backward, 'default cfg': check_default_cfg,
          'forward_features → forward_head': check_features_head, 'forward_intermediates': check_intermediates,
          'reset_classifier': check_reset_classifier, 'TorchScript': check_torchscript, 'fx': check_fx,
          'jit.trace': check_jit_trace, 'torch.export (dynamic batch)': check_export, 'torch.compile': check_compile}

def run(check:str, arch:str, head:str) -> str:
    "'pass', or the failure's first line"
    try: CHECKS[check](arch, head); return 'pass'
    except Exception as e: return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160] if str(e).strip() else ''}"

def table(families:dict, heads, checks=tuple(CHECKS)) -> list:
    "Rows `(family, arch, check, head, result)` for the plain timm model and every head"
    rows = []
    for family, arch in families.items():
        for check in checks:
            for head in (PLAIN, *heads):
                t = time.perf_counter()
                rows.append(dict(family=family, arch=arch, check=check, head=head, result=run(check, arch, head),
                                 seconds=time.perf_counter() - t))
                print(f"{family:<22} {check:<32} {head:<14} {rows[-1]['result'][:90]}", flush=True)
    return rows

def markdown(rows:list, cmd:str) -> str:
    import pandas as pd
    from wisefast.experiments import results_markdown
    df = pd.DataFrame(rows)
    plain = df[df['head'] == PLAIN].set_index(['family', 'check']).result
    def mark(r):
        if r.result == 'pass': return '✓'
        return '✗ (timm too)' if plain[(r.family, r.check)] != 'pass' else '**✗**'
    df['cell'] = df.apply(mark, axis=1)
    out = []
    for family, d in df.groupby('family', sort=False):
        t = d.pivot_table(index='check', columns='head', values='cell', aggfunc='first', sort=False)
        out.append(f"### {family}: `{d.arch.iloc[0]}`\n\n" + results_markdown(t[[c for c in d['head'].unique()]].reset_index()))
    fails = df[(df.result != 'pass') & (df['head'] != PLAIN)]
    notes = '\n'.join(f"- {r.family}, {r.check}, {r['head']}: {r.result}" for _, r in fails.iterrows()) or '- none'
    plain_fails = df[(df.result != 'pass') & (df['head'] == PLAIN)]
    pnotes = '\n'.join(f"- {r.family}, {r.check}: {r.result}" for _, r in plain_fails.iterrows()) or '- none'
    return (f"# timm's and PyTorch's model contracts on WiseModels\n\n{__doc__.split(chr(10) * 2, 2)[2].strip()}\n\n"
            f"Reproduce: `{cmd}`. ✓: passes; **✗**: fails where the plain timm model passes; ✗ (timm too): the plain "
            f"timm model fails it as well.\n\n" + '\n'.join(out) +
            f"\n## Where the plain timm model fails too\n\n{pnotes}\n\n## Failures of WiseModels\n\n{notes}\n")

def main(argv=None):
    from wisefast.heads import HEAD_REGISTRY
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--families', default='default', help="'default', 'all', or comma-separated family names")
    p.add_argument('--smoke', action='store_true', help="one head per family, nothing written")
    p.add_argument('--out', default=str(RESULTS/'timm_contracts.md'))
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    every = {**FAMILIES, **MORE_FAMILIES}
    fams = FAMILIES if a.families == 'default' else every if a.families == 'all' else \
           {k: every[k] for k in a.families.split(',')}
    rows = table(fams, ('wise',) if a.smoke else tuple(HEAD_REGISTRY))
    if not a.smoke:
        from wisefast.files import write_atomic
        cmd = ' '.join(['python benchmarks/timm_contracts.py', *(argv if argv is not None else sys.argv[1:])])
        write_atomic(a.out, markdown(rows, cmd))
    return rows

if __name__ == '__main__': main()
