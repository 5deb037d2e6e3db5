"The README is the docs home page (nbs/index.ipynb), starts with the two commands a fresh machine needs, and its quick start trains."
import json, re, runpy
from pathlib import Path

ROOT = Path(__file__).parents[1]

def test_index_matches_readme():
    nb = json.loads((ROOT/'nbs/index.ipynb').read_text())
    md = '\n\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')
    norm = lambda s: re.sub(r'\s+', ' ', s).strip()
    readme = (ROOT/'README.md').read_text()
    for_site = runpy.run_path(str(ROOT/'tools'/'readme_to_index.py'))['for_site']     # the script's own rewrite
    assert norm(md) == norm(for_site(readme)), "nbs/index.ipynb and README.md differ: run tools/readme_to_index.py"
    for link in re.findall(r'\]\((?!https?:|#)([^)]+)\)', readme):             # the repository page's own links work
        assert (ROOT/link.split('#')[0]).exists(), f"README links to {link}, which does not exist"

def test_readme_starts_with_the_two_commands():
    text = (ROOT/'README.md').read_text()
    block = re.search(r'```bash\n(.*?)```', text, re.S).group(1).splitlines()
    assert block[0].startswith('make train') and block[1].startswith('make test')
    mk = (ROOT/'Makefile').read_text()
    assert re.search(r'^train: setup', mk, re.M) and re.search(r'^test: setup', mk, re.M)
    assert 'make test' in (ROOT/'.ci/run').read_text()

def test_quick_start_as_written():
    "The README's quick start, run as written, reaches the test top-1 the README states for it (less 0.07: 3.5 sd)."
    stated = float(re.search(r'reaches a test top-1 of\s+([\d.]+)', (ROOT/'README.md').read_text()).group(1))
    bench = runpy.run_path(str(ROOT/'benchmarks'/'quick_start.py'))
    r = bench['run_once'](bench['quick_start_code']())
    print(f"\nquick start: test top-1 {r['top1']:.4f} (README: {stated}) in {r['seconds']:.0f} s")
    assert r['top1'] >= stated - 0.07 and r['wrote'] == ['wise.pkl'] and r['n_test'] == 1000
