"""Cost of every wisefast head against GAP: parameters, FLOPs and CPU training-step time, measured side by side.

    python benchmarks/head_overhead.py [--archs resnet50 densenet121] [--size 224] [--bs 8] [--rounds 12]

For each backbone one body is shared by all heads; each round times one training step (forward, backward, SGD step)
of every head in a shuffled order, so the machine's noise hits all heads alike. Ratios are medians of per-round ratios.
Because the heads differ by far less than a shared machine's step-to-step noise, each head's own forward+backward is
also timed alone on a fixed feature map, and the step ratio it implies is printed beside the measured one.
"""
import argparse, random, statistics, time, platform
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from wisefast.paper import HEAD_VARIANTS
from wisefast.heads import WiseHead, num_params
from wisefast.models import create_timm_body, feature_map_shape

def flops(model, x):
    with FlopCounterMode(display=False) as fc: model(x)
    return fc.get_total_flops()

def step_time(body, head, x, y, opt):
    t = time.perf_counter()
    loss = nn.functional.cross_entropy(head(body(x)), y)
    loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t

def head_time(head, feats, y, reps=30):
    "Seconds of one forward + backward through `head` alone, on a fixed feature map (mean of `reps`)."
    f = feats.detach().requires_grad_()
    for _ in range(3): nn.functional.cross_entropy(head(f), y).backward()
    t = time.perf_counter()
    for _ in range(reps): nn.functional.cross_entropy(head(f), y).backward()
    return (time.perf_counter() - t) / reps

def bench(arch, size, bs, n_out, rounds, heads):
    torch.manual_seed(0)
    body = create_timm_body(arch)
    nf, h, w = feature_map_shape(body, size)
    hs = {v: WiseHead(nf, n_out, (h, w), v) for v in heads}
    x, y = torch.randn(bs, 3, size, size), torch.randint(0, n_out, (bs,))
    opts = {v: torch.optim.SGD(list(body.parameters()) + list(hd.parameters()), lr=1e-4, momentum=0.9) for v, hd in hs.items()}
    body.train()
    with torch.no_grad(): fl = {v: flops(nn.Sequential(body, hd).eval(), x[:1]) for v, hd in hs.items()}
    body.train()
    for v in heads: step_time(body, hs[v], x, y, opts[v])           # warm-up
    times = {v: [] for v in heads}
    for _ in range(rounds):
        order = list(heads); random.shuffle(order)
        for v in order: times[v].append(step_time(body, hs[v], x, y, opts[v]))
    with torch.no_grad(): feats = body(x)
    ht = {v: head_time(hs[v], feats, y) for v in heads}
    gap_p, gap_f = num_params(hs['gap']), fl['gap']
    gap_step = statistics.median(times['gap'])
    nb = num_params(body)
    print(f"\n## {arch}, {size}×{size} px → {nf}×{h}×{w} map, {n_out} classes, batch {bs}, {rounds} rounds")
    print(f"backbone parameters: {nb:,}\n")
    print("| head | head params | model params vs GAP | GFLOPs/img | FLOPs vs GAP | step s (median) | step s (min) "
          "| step / GAP (median of per-round ratios) | step / GAP (min / min) | head fwd+bwd ms | step / GAP from head cost |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for v in heads:
        ratio = statistics.median(t / g for t, g in zip(times[v], times['gap']))
        print(f"| {v} | {num_params(hs[v]):,} | {(nb + num_params(hs[v])) / (nb + gap_p):.4f} (+{num_params(hs[v]) - gap_p:,}) "
              f"| {fl[v] / 1e9:.4f} | {fl[v] / gap_f:.5f} | {statistics.median(times[v]):.3f} | {min(times[v]):.3f} "
              f"| {ratio:.3f} | {min(times[v]) / min(times['gap']):.3f} | {ht[v] * 1e3:.2f} "
              f"| {(gap_step + ht[v] - ht['gap']) / gap_step:.4f} |")
    print("\nLast column: (median GAP step + this head's forward+backward time − GAP head's) / median GAP step, from the "
          "head alone timed on a fixed feature map: the head's own cost, free of the whole-step noise.")

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--archs', nargs='+', default=['resnet50', 'densenet121'])
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--bs', type=int, default=8)
    ap.add_argument('--n-out', type=int, default=70)
    ap.add_argument('--rounds', type=int, default=12)
    ap.add_argument('--heads', nargs='+', default=list(HEAD_VARIANTS))
    a = ap.parse_args()
    heads = ['gap'] + [h for h in a.heads if h != 'gap']
    print(f"# Head overhead (CPU, torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()})")
    for arch in a.archs: bench(arch, a.size, a.bs, a.n_out, a.rounds, heads)
