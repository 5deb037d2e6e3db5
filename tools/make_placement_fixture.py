"""Write `tests/data/ms-sar-output`: a model with MS-SAR gates at their site before placements existed (SE's: the
residual branches' outputs), saved by wisefast at commit 75f033f, and the probabilities it gave then on the legacy images.
Run it with that commit's code:

    git worktree add /tmp/wf-75f033f 75f033f
    PYTHONPATH=/tmp/wf-75f033f python tools/make_placement_fixture.py tests/data/ms-sar-output tests/data/legacy-0.1.0/images 75f033f
"""
import json, sys, torch
from pathlib import Path
import wisefast
from wisefast.models import create_wise_model
from wisefast.recalibration import MSSAR
from wisefast.export import save_weights
from wisefast.load import load_wise_learner
out, images = Path(sys.argv[1]), sorted(Path(sys.argv[2]).glob('*.png'))
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
m = create_wise_model('test_resnet', 3, size=64, recalibration='ms_sar')
with torch.no_grad():                                   # trained-looking gates and head: the output depends on them
    for g in m.modules():
        if isinstance(g, MSSAR):
            for p in g.parameters(): p.normal_(0, 0.5)
    for p in m[1].parameters(): p.normal_(0, 0.5)
    m[1].spatial.weight.abs_()                          # a non-negative kernel, as training keeps it
save_weights(m.eval(), out/'ms_sar.safetensors', vocab=['a', 'b', 'c'])
learn = load_wise_learner(out/'ms_sar.safetensors')
probs = learn.get_preds(dl=learn.dls.test_dl(images))[0]
json.dump(dict(wisefast=wisefast.__version__, commit=sys.argv[3], files=[f.name for f in images], probs=probs.tolist()),
          open(out/'expected.json', 'w'), indent=1)
print(probs)
