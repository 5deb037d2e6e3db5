import os, warnings
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')
warnings.filterwarnings('ignore', category=FutureWarning)

def pytest_collection_modifyitems(items):
    "`from fastai.vision.all import *` brings fastcore's `test_eq`, `test_fail`, ... into test modules: not tests."
    def ours(i): return not getattr(getattr(i, 'function', None), '__module__', 'tests').startswith(('fastcore', 'fastai'))
    items[:] = [i for i in items if ours(i)]
