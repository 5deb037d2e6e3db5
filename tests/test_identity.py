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

def test_learners_take_what_fastai_image_learners_take(tmp_path):
    "`predict` and `test_dl` of a `wise_dls` learner, trained and loaded: a str, a Path, a PILImage, an array, a tensor"
    import numpy as np, torch, warnings
    from PIL import Image
    from fastai.vision.all import PILImage, TensorImage, image2tensor
    from wisefast.data import wise_dls
    from wisefast.learner import wise_learner
    from wisefast.export import save_weights
    from wisefast.load import load_wise_learner
    folder = model_identity._images(tmp_path/'images', 4)
    learn = wise_learner(wise_dls(folder, size=32, bs=4, num_workers=0, augment=False), 'test_resnet', pretrained=False)
    f = sorted(folder.rglob('*.png'))[0]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = load_wise_learner(save_weights(learn, tmp_path/'m.safetensors'))
    rgb = np.array(Image.open(f).convert('RGB'))
    inputs = (str(f), f, PILImage.create(f), rgb, TensorImage(image2tensor(Image.open(f).convert('RGB'))))
    for l in (learn, loaded):
        ref = l.predict(f)[2]
        for x in inputs: assert torch.allclose(l.predict(x)[2], ref, atol=1e-6), type(x)
        assert len(l.dls.test_dl(list(inputs), bs=8, num_workers=0).one_batch()[0]) == len(inputs)
