"Grad-CAM: heatmaps of WiseModels (the head gets the 4-D map), the Figure 9 plot and `wisefast gradcam`."
import os
from pathlib import Path
import numpy as np, pytest, torch
from wisefast.data import wise_dls
from wisefast.test_utils import write_class_folders
from wisefast.export import save_weights
from wisefast.interpret import gradcam, compare_cams, plot_gradcam, cam_layer
from wisefast.models import create_wise_model
from wisefast.learner import wise_learner

os.environ.setdefault('MPLBACKEND', 'Agg')

@pytest.mark.parametrize('head', ['gap', 'wise', 'dw_nonneg', 'avg_dense'])
def test_gradcam_maps(head):
    m = create_wise_model('test_resnet', 4, size=64, head=head, output_stride=16)   # 4×4 map
    shapes = []
    h = m[1].register_forward_pre_hook(lambda mod, inp: shapes.append(tuple(inp[0].shape)))
    maps = gradcam(m, torch.rand(3, 3, 64, 64), targets=[0, 1, 2])
    h.remove()
    assert shapes == [(3, 96, 4, 4)]                     # the head receives the unpooled map
    assert maps.shape == (3, 64, 64) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1 and np.isfinite(maps).all()   # all zeros is legit (ReLU of the CAM)
    assert cam_layer(m) is m[0]

@pytest.fixture(scope='module')
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp('cam')
    write_class_folders(d/'data', classes=('a', 'b'), n=4, size=(40, 30))
    dls = wise_dls(d/'data', size=48, bs=4, valid_pct=0.25, num_workers=0, seed=0)
    learns = [wise_learner(dls, 'test_resnet', pretrained=False, head=h) for h in ('gap', 'wise')]
    files = [save_weights(l, d/f'{h}.safetensors') for l, h in zip(learns, ('gap', 'wise'))]
    return d, learns, files

def test_figure9(models, tmp_path):
    d, learns, _ = models
    items = sorted((d/'data').rglob('*.jpg'))[:2]
    res = compare_cams(learns, items)
    assert list(res) == ['gap', 'wise']
    for r in res.values():
        assert r['cams'].shape == (2, 48, 48) and r['images'].shape == (2, 48, 48, 3) and r['images'].dtype == np.uint8
        assert 0 <= r['cams'].min() and r['cams'].max() <= 1 and set(r['preds']) <= {0, 1}
    plot_gradcam(learns, items, tmp_path/'fig9.png', names=['GAP', 'Wise-SrNet'])
    assert (tmp_path/'fig9.png').stat().st_size > 1000

def test_cli_gradcam(models, tmp_path, capsys):
    from wisefast.cli import main
    d, _, files = models
    rc = main(['gradcam', *map(str, files), str(d/'data'/'a'), '--max-images', '2', '--out', str(tmp_path/'cam.png')])
    assert rc == 0 and (tmp_path/'cam.png').exists() and 'cam.png' in capsys.readouterr().out
    assert main(['gradcam', str(d/'data'/'a'), '--out', str(tmp_path/'x.png')]) == 2    # no model given
