"The notebooks are clean sources: every cell has a stable id (nbdev 3 writes ids into the modules) and no outputs."
import json
from pathlib import Path
import pytest

NBS = sorted((Path(__file__).parents[1]/'nbs').rglob('*.ipynb'))

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_notebook_is_clean(nb):
    cells = json.loads(nb.read_text())['cells']
    assert all('id' in c for c in cells), f"{nb.name}: cells without an id make nbdev-export non-deterministic"
    assert not [c for c in cells if c['cell_type'] == 'code' and c.get('outputs')], f"{nb.name} has outputs: run nbdev-clean"
