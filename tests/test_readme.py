"The README is the docs home page (nbs/index.ipynb) and starts with the two commands a fresh machine needs."
import json, re
from pathlib import Path

ROOT = Path(__file__).parents[1]

def test_index_matches_readme():
    nb = json.loads((ROOT/'nbs/index.ipynb').read_text())
    md = '\n\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')
    norm = lambda s: re.sub(r'\s+', ' ', s).strip()
    assert norm(md) == norm((ROOT/'README.md').read_text()), "nbs/index.ipynb and README.md differ: keep them in sync"

def test_readme_starts_with_the_two_commands():
    text = (ROOT/'README.md').read_text()
    block = re.search(r'```bash\n(.*?)```', text, re.S).group(1).splitlines()
    assert block[0].startswith('make train') and block[1].startswith('make test')
    mk = (ROOT/'Makefile').read_text()
    assert re.search(r'^train: setup', mk, re.M) and re.search(r'^test: setup', mk, re.M)
    assert 'make test' in (ROOT/'.ci/run').read_text()
