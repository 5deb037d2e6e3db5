"One model identity: every file a model is saved to loads to the same predictions, and a bad model file is refused."
import sys
from pathlib import Path
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'benchmarks'))
import model_identity

def test_every_source_predicts_the_same_and_bad_files_are_refused():
    "Four models with non-default preprocessing × six sources × API and CLI within 1e-5; ten bad files: exit 2, one line"
    pytest.importorskip('onnxruntime')
    par, ref = model_identity.main(['--smoke'])
    assert set(par.model) == set(model_identity.KINDS) and set(par.source) == set(model_identity.SOURCES)
    assert len(par) == len(model_identity.KINDS) * (2 * len(model_identity.SOURCES) - 1)
    worst = par.loc[par.max_abs_diff.idxmax()]
    assert worst.max_abs_diff < 1e-5, worst.to_dict()
    assert (ref.exit == 2).all() and (ref.lines == 1).all(), ref.to_string()
    assert ref.message.str.startswith('wisefast predict: error:').all()
