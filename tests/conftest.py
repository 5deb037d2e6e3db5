import os, shutil, tempfile, warnings
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')
warnings.filterwarnings('ignore', category=FutureWarning)
# The tests write only under temporary folders: fastai's data folder (`digits_folder`, `dataset_path`) is one made for
# this session, here and in the commands the tests start, and removed at the end (`pytest_unconfigure`)
FASTAI_HOME = os.environ['FASTAI_HOME'] = tempfile.mkdtemp(prefix='wisefast-tests-fastai-')

import pytest, torch

def pytest_unconfigure(config): shutil.rmtree(FASTAI_HOME, ignore_errors=True)

@pytest.fixture(autouse=True)
def one_thread():
    "One torch thread: much faster than two on a busy 2-core CPU, and no influence on the results the tests check."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

FULL_DATA_HELP = ("the full Fashion-MNIST is not installed (only the sample shipped with wisefast): "
                  "`apt-get install dataset-fashion-mnist` or `python -c 'from wisefast.datasets import *; fashion_mnist_path(download=True)'`")

@pytest.fixture
def full_fashion_mnist():
    "Folder of the full Fashion-MNIST (70,000 images); skips the test, saying why, where only the sample is there."
    from wisefast.datasets import fashion_mnist_path
    try: return fashion_mnist_path(sample=False)
    except FileNotFoundError: pytest.skip(FULL_DATA_HELP)

def pytest_collection_modifyitems(config, items):
    """`from fastai.vision.all import *` brings fastcore's `test_eq`, `test_fail`, ... into test modules: not tests.
    Tests that need the full Fashion-MNIST get the `full_data` mark (`pytest -m full_data` runs just them). The
    `extended` suite (more timm families, repeated crash checks: tens of minutes) runs only when asked for,
    `pytest -m extended` or `WISEFAST_EXTENDED=1`."""
    def ours(i): return not getattr(getattr(i, 'function', None), '__module__', 'tests').startswith(('fastcore', 'fastai'))
    items[:] = [i for i in items if ours(i)]
    extended = 'extended' in (config.getoption('markexpr') or '') or os.environ.get('WISEFAST_EXTENDED')
    for i in items:
        if 'full_fashion_mnist' in getattr(i, 'fixturenames', ()): i.add_marker(pytest.mark.full_data)
        if 'extended' in i.keywords and not extended:
            i.add_marker(pytest.mark.skip(reason="the extended suite (tens of minutes): `pytest -m extended` runs it"))
