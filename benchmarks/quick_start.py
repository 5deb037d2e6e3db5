"""The README's quick start, run as written: its test accuracy and its time on this machine.

    python benchmarks/quick_start.py [--runs 3] [--out benchmarks/results/quick_start.md]

Reads the Python block under "## Quick start" in README.md and runs it, unchanged, `--runs` times in a temporary folder
(it writes `wise.pkl`), timing each run from the first line to the last, then scores each trained `learn` on the test
split.
"""
import argparse, contextlib, io, os, platform, re, statistics, tempfile, time, warnings
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]

def quick_start_code(readme=ROOT/'README.md') -> str:
    "The Python block of the README's 'Quick start' section"
    sec = Path(readme).read_text().split('\n## Quick start', 1)[1].split('\n## ', 1)[0]
    return re.search(r'```python\n(.*?)```', sec, re.S).group(1)

def run_once(code:str) -> dict:
    "Run `code` in a fresh namespace in a temporary folder (its output silenced); its time and the test metrics of its `learn`"
    from wisefast.data import wise_test_dl
    ns = {}
    with tempfile.TemporaryDirectory() as d, contextlib.chdir(d), contextlib.redirect_stdout(io.StringIO()), \
         warnings.catch_warnings():
        warnings.simplefilter('ignore')
        t0 = time.perf_counter()
        exec(compile(code, 'README.md', 'exec'), ns)
        secs = time.perf_counter() - t0
        learn = ns['learn']
        with learn.no_bar(): loss, top1, top5 = learn.validate(dl=wise_test_dl(ns['dls']))
        wrote = sorted(p.name for p in Path(d).iterdir())
    return dict(seconds=secs, top1=float(top1), top5=float(top5), n_test=len(ns['dls'].test_items), wrote=wrote,
                n_train=len(ns['dls'].train_ds))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'results'/'quick_start.md'))
    a = p.parse_args(argv)
    code = quick_start_code()
    from wisefast.files import write_atomic
    from wisefast.datasets import fashion_mnist_path, is_sample
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        data = 'the sample shipped with wisefast' if is_sample(fashion_mnist_path()) else 'the full dataset (installed)'
    runs = []
    for i in range(a.runs):
        runs.append(run_once(code))
        r = runs[-1]
        print(f"run {i + 1}: {r['seconds']:.0f} s, test top-1 {r['top1']:.4f}, top-5 {r['top5']:.4f}", flush=True)
    top1, secs = [r['top1'] for r in runs], [r['seconds'] for r in runs]
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.
    lines = ["# The README's quick start, as written", "",
             f"Command: `python benchmarks/quick_start.py --runs {a.runs}`. "
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} "
             f"threads, shared with other jobs. Fashion-MNIST: {data} ({runs[0]['n_train']} training images after the "
             f"validation split, {runs[0]['n_test']} test images).", "",
             "```python", code.rstrip(), "```", "",
             "| run | seconds | test top-1 | test top-5 | files written |", "|---:|---:|---:|---:|---|",
             *[f"| {i + 1} | {r['seconds']:.0f} | {r['top1']:.4f} | {r['top5']:.4f} | {', '.join(r['wrote'])} |"
               for i, r in enumerate(runs)], "",
             f"**Test top-1 {statistics.mean(top1):.3f} ± {sd(top1):.3f}** (mean ± sd of {a.runs} runs; "
             f"{min(top1):.3f}–{max(top1):.3f}), **{statistics.mean(secs)/60:.1f} ± {sd(secs)/60:.1f} min** per run.", ""]
    write_atomic(a.out, '\n'.join(lines))
    print(f"{a.out}: top-1 {statistics.mean(top1):.3f} ± {sd(top1):.3f}, {statistics.mean(secs)/60:.1f} min per run")
    return runs

if __name__ == '__main__': main()
