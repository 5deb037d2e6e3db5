#!/usr/bin/env python
"""Write nbs/index.ipynb (the docs home page) from README.md, one markdown cell per section.

nbdev normally renders README.md from index.ipynb with `nbdev-readme`, which needs Quarto; here the README is edited
and this script keeps the home page identical (tests/test_readme.py checks it)."""
import hashlib, json, re
from pathlib import Path

root = Path(__file__).parents[1]
def for_site(readme:str) -> str:
    """The README as the docs home page: links into `nbs/` become links between the site's pages, and links to the
    repository's other files (`benchmarks/results/...`) point up from the site's folder to them"""
    return readme.replace('](nbs/', '](').replace('](benchmarks/', '](../benchmarks/')

def cell(kind, src, i):
    lines = [l + '\n' for l in src.split('\n')]; lines[-1] = lines[-1].rstrip('\n')
    c = dict(cell_type=kind, id=hashlib.sha1(f'index:{i}:{src}'.encode()).hexdigest()[:8], metadata={}, source=lines)
    if kind == 'code': c.update(execution_count=None, outputs=[])
    return c

if __name__ == '__main__':
    parts = re.split(r'\n(?=## )', for_site((root/'README.md').read_text()).strip())
    cells = [cell('code', '#| hide\nfrom wisefast.all import *', 0)] + [cell('markdown', p, i + 1) for i, p in enumerate(parts)]
    nb = dict(cells=cells, metadata=dict(kernelspec=dict(display_name='python3', language='python', name='python3')),
              nbformat=4, nbformat_minor=5)
    (root/'nbs/index.ipynb').write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    print(f"nbs/index.ipynb: {len(cells)} cells from README.md")
