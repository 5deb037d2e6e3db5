"""`wisefast demo`: the page's handler against `wisefast predict`, a Space's `app.py` served by a process of its own,
the missing extra and the command's errors (fast, the default suite); and the page in headless Chromium (`browser`):
an image uploaded, `predict`'s label and a Grad-CAM image shown, nothing fetched from outside this machine, a
screenshot saved (to `DEMO_SCREENSHOT` if set; `DEMO_MODELS=A,B` serves those models instead of the tiny ones)."""
import importlib.util, os, re, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import numpy as np, pytest
from wisefast import cli
from wisefast.demo import demo, demo_outputs, explain, sample_examples
from wisefast.load import load_wise_learner

ROOT = Path(__file__).resolve().parents[1]
ENV = {**{k: v for k, v in os.environ.items() if k != 'GRADIO_SERVER_NAME'},    # a Space's address, not this machine's
       'HF_HUB_OFFLINE': '1', 'NO_ALBUMENTATIONS_UPDATE': '1', 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1'}
WISEFAST = Path(sys.executable).parent/'wisefast'
needs_gradio = pytest.mark.skipif(importlib.util.find_spec('gradio') is None,
                                  reason="the `demo` extra is not installed: pip install 'wisefast[demo]'")

def _which(*names): return next((p for p in map(shutil.which, names) if p), None)
NO_BROWSER = bool(os.environ.get('WISEFAST_NO_BROWSER'))   # `.ci/run`'s first step: a fresh machine has no browser
CHROME = None if NO_BROWSER else (os.environ.get('CHROME_BIN') or _which('chromium', 'chromium-browser', 'google-chrome'))
DRIVER = os.environ.get('CHROMEDRIVER') or _which('chromedriver')
needs_chromium = pytest.mark.skipif(not (CHROME and DRIVER), reason='WISEFAST_NO_BROWSER is set' if NO_BROWSER else
                                    'headless Chromium not installed: apt-get install -y chromium chromium-driver')

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "Two run folders of `wisefast compare` (GAP, Wise-SrNet; one epoch on the Fashion-MNIST sample, an 8×8 map)"
    out = tmp_path_factory.mktemp('runs')
    argv = ['compare', 'fashion_mnist', '--arch', 'test_resnet', '--size', '64', '--output-stride', '8', '--heads',
            'gap:default,wise:default', '--epochs', '1', '--bs', '16', '--n-per-class', '10,2', '--augment', 'none',
            '--workers', '0', '--threads', '1', '--out', str(out)]
    assert cli.main(argv) == 0
    return [out/'gap-default', out/'wise-default']

@pytest.fixture(scope='module')
def images(tmp_path_factory):
    return sample_examples(tmp_path_factory.mktemp('examples'))

def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _labels(run, files) -> list:
    "`wisefast predict`'s class for each of `files`"
    return [c for _, c, _ in cli.predict(run, files)]


def test_handler_gives_predicts_labels(runs, images):
    "The page's handler, called directly: each model's top class is `wisefast predict`'s on the same file, its map the model's size"
    learners = [load_wise_learner(r) for r in runs]
    for run, learn in zip(runs, learners):
        for f, label in zip(images, _labels(run, images)):
            top, overlay = explain(learn, f, k=3)
            assert list(top)[0] == label and len(top) == 3 and sum(top.values()) <= 1 + 1e-6
            assert overlay.shape == (64, 64, 3) and overlay.dtype == np.uint8
    outs = demo_outputs(learners, images[0])
    assert len(outs) == 4 and [type(o) for o in outs] == [dict, np.ndarray]*2 and outs[1].shape == (256, 256, 3)


def test_missing_extra_names_it(runs, monkeypatch):
    "Without gradio, the page says which extra to install; importing wisefast never imports gradio"
    monkeypatch.setitem(sys.modules, 'gradio', None)
    with pytest.raises(ImportError, match=r"wisefast demo needs the optional package 'gradio'.*pip install 'wisefast\[demo\]'"):
        demo(runs)
    r = subprocess.run([sys.executable, '-c', "import sys, wisefast.all, wisefast.demo, wisefast.cli; "
                        "sys.exit('gradio' in sys.modules)"], env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, 'importing wisefast imported gradio' + r.stderr[-2000:]


@pytest.mark.parametrize('args,msg', [
    (['demo', 'no/such/run'], 'no such model file or folder'),
    (['demo', 'MODEL', '--names', 'a,b'], '--names gives 2 names for 1 models'),
    (['demo', 'MODEL', '--top', '0'], 'must be at least 1, got 0'),
    (['demo', 'MODEL', '--examples', 'no/such.png', '--space', 'space'], 'examples not found: no/such.png'),
])
def test_cli_errors_are_one_line(runs, args, msg, tmp_path, monkeypatch, capsys):
    "What a user can get wrong: one line on stderr saying what to do, exit code 2, nothing written, no page served"
    monkeypatch.chdir(tmp_path)
    assert cli.main([str(runs[0]) if a == 'MODEL' else a for a in args]) == 2
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip() and not l.startswith('warning:')]
    assert len(lines) == 1 and msg in lines[0] and 'Traceback' not in err, err
    assert list(tmp_path.iterdir()) == []


def _serve(cmd, port, cwd=None, env=None):
    "Start the page `cmd` on `port` in a process of its own; return it once the page answers"
    p = subprocess.Popen(cmd, cwd=cwd, env={**ENV, 'GRADIO_SERVER_PORT': str(port), **(env or {})},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url, t = f'http://127.0.0.1:{port}/', time.time()
    while time.time() - t < 240:
        if p.poll() is not None: pytest.fail(f"{cmd} exited with {p.returncode}:\n{p.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200: return p
        except OSError: time.sleep(0.5)
    p.kill(); pytest.fail(f"{cmd}: no page at {url} after 240 s:\n{p.stdout.read()[-3000:]}")

def _stop(p):
    p.terminate()
    try: p.wait(30)
    except subprocess.TimeoutExpired: p.kill(); p.wait()


@needs_gradio
def test_space_app_serves_predictions(runs, images, tmp_path):
    "A folder from `wisefast demo --space` runs as it is (`python app.py`, as a Space runs it) and answers with `predict`'s labels"
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    space = tmp_path/'space'
    assert cli.main(['demo', *map(str, runs), '--space', str(space)]) == 0
    assert {'app.py', 'requirements.txt', 'README.md', 'examples', 'gap-default', 'wise-default'} <= {p.name for p in space.iterdir()}
    assert (space/'requirements.txt').read_text().startswith('wisefast[demo]')
    port = _free_port()
    p = _serve([sys.executable, 'app.py'], port, cwd=space)
    try:
        client = Client(f'http://127.0.0.1:{port}/', verbose=False)
        out = client.predict(handle_file(str(images[3])), api_name='/classify')
        assert [o['label'] for o in out[::2]] == [_labels(run, images[3:4])[0] for run in runs]
        assert all(Path(o).is_file() for o in out[1::2])                 # the two Grad-CAM images
        (tmp_path/'notes.png').write_text('not an image')
        with pytest.raises(AppError, match='notes.png is not an image wisefast can read'):   # the page's answer
            client.predict(handle_file(str(tmp_path/'notes.png')), api_name='/classify')
        (tmp_path/'big.png').write_bytes(os.urandom(11_000_000))          # over the 10 MB upload limit
        with pytest.raises(Exception, match='(?i)too large|413|exceed'):
            client.predict(handle_file(str(tmp_path/'big.png')), api_name='/classify')
    finally: _stop(p)
    assert 'Running on local URL:  http://127.0.0.1:' in p.stdout.read()   # bound to this machine only


@pytest.fixture(scope='module')
def chrome(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROME
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
              '--disable-component-update', '--no-first-run', '--disable-sync', '--window-size=1500,1300',
              f'--user-data-dir={tmp_path_factory.mktemp("chrome")}'):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(120)
    yield drv
    drv.quit()


@needs_chromium
@needs_gradio
@pytest.mark.browser
def test_page_in_chromium(runs, images, chrome, tmp_path):
    "`wisefast demo GAP WISE` in headless Chromium: an uploaded image gets `predict`'s label and a Grad-CAM image from each model"
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    models = os.environ['DEMO_MODELS'].split(',') if os.environ.get('DEMO_MODELS') else list(map(str, runs))
    img = images[int(os.environ.get('DEMO_IMAGE', 3))]
    port = _free_port()
    p = _serve([str(WISEFAST), 'demo', *models, '--port', str(port)], port)
    try:
        chrome.get(f'http://127.0.0.1:{port}/')
        WebDriverWait(chrome, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, '#image input[type=file]'))
        chrome.find_element(By.CSS_SELECTOR, '#image input[type=file]').send_keys(str(img))
        shown = lambda d: [e.text.strip() for e in d.find_elements(By.CSS_SELECTOR, '[id^=label-] .output-class')]
        WebDriverWait(chrome, 120).until(lambda d: len([t for t in shown(d) if t]) == len(models))
        assert shown(chrome) == [_labels(m, [img])[0] for m in models]
        WebDriverWait(chrome, 60).until(lambda d: d.execute_script(
            "return Array.from(document.querySelectorAll('[id^=cam-] img')).filter(i => i.complete && i.naturalWidth > 0).length") == len(models))
        outside = chrome.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"
                                        ".filter(u => !u.startsWith(location.origin) && !u.startsWith('data:') && !u.startsWith('blob:'))")
        assert not outside, f'the page fetched from outside this machine: {outside}'
        out = Path(os.environ.get('DEMO_SCREENSHOT') or tmp_path/'demo.png')
        out.parent.mkdir(parents=True, exist_ok=True)
        chrome.save_screenshot(str(out))
        assert out.stat().st_size > 10_000
    finally: _stop(p)


def test_latency_benchmark_smoke(tmp_path):
    "benchmarks/demo_latency.py runs end to end (a tiny model, one run; no timing is asserted) and reports every stage"
    r = subprocess.run([sys.executable, 'benchmarks/demo_latency.py', '--arch', 'test_resnet', '--size', '64', '--runs', '1',
                        '--threads', '1', '--out', str(tmp_path/'latency.md')], cwd=ROOT, env=ENV, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    text = (tmp_path/'latency.md').read_text()
    for row in ('handler: `demo_outputs`', '· image prepared', '· forward', '· Grad-CAM', '· overlay'):
        assert re.search(rf'\| {re.escape(row)}[^|]*\| \d+ \(\d+–\d+\) \|', text), row
    assert re.search(r"\*\*Goal: the answer within 2,000 ms\. (Met|Missed)\*\* with 1 thread", text)
