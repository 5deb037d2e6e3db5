"The wheel a user installs holds every module and the Fashion-MNIST sample, and setuptools builds it without a warning."
import shutil, subprocess, sys, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).parents[1]
SAMPLE = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT/'wisefast'/'samples').rglob('*') if p.is_file())

@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    "A wheel built from a copy of the sources (the build leaves nothing in the checkout), and the build's output"
    setuptools = pytest.importorskip('setuptools', reason="building the wheel without isolation needs setuptools")
    if int(setuptools.__version__.split('.')[0]) < 77: pytest.skip(f"setuptools {setuptools.__version__} is older than the build needs (77)")
    src, out = tmp_path_factory.mktemp('src'), tmp_path_factory.mktemp('dist')
    for f in ('pyproject.toml', 'README.md'): shutil.copy(ROOT/f, src/f)
    shutil.copytree(ROOT/'wisefast', src/'wisefast', ignore=shutil.ignore_patterns('__pycache__'))
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-v', '-w', str(out),
                        str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    whl, = out.glob('wisefast-*.whl')
    return whl, r.stdout + r.stderr

def test_wheel_holds_the_sample_and_the_modules(wheel):
    whl, _ = wheel
    assert SAMPLE, "no sample files in the checkout"
    names = set(zipfile.ZipFile(whl).namelist())
    assert set(SAMPLE) <= names, f"missing from the wheel: {sorted(set(SAMPLE) - names)}"
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT/'wisefast').glob('*.py')}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"

def test_wheel_builds_without_packaging_warnings(wheel):
    _, log = wheel
    assert 'is absent from the `packages` configuration' not in log
