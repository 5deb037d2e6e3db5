"""How long `wisefast demo` takes to answer: one uploaded 224 px image to the top classes and the Grad-CAM map.

    python benchmarks/demo_latency.py [--arch resnet18] [--size 224] [--runs 15] [--threads 1 2] [--page] [--out FILE]

A ResNet-18-sized model with a Wise-SrNet head (random weights: the time does not depend on them), saved with
`save_weights` and loaded as `wisefast demo` loads it (`load_wise_learner`). Timed, median over `--runs` after a
warm-up, for each torch thread count:

- **handler**: `demo_outputs`, the function the page calls for an upload (what the server computes), and its stages:
  the image prepared as the model was trained (`cam_inputs`: fastai's `test_dl`, one batch, decoded back for display),
  the forward pass giving the probabilities, Grad-CAM (`gradcam`: a forward and a backward pass), the overlay;
- **page** (`--page`, needs Chromium and chromedriver): `wisefast demo MODEL` in a process of its own, driven by
  headless Chromium: the time from giving the file to the page's upload field to the label and the Grad-CAM image
  both shown (upload, gradio's queue, the handler, the PNG back), alternating two images so that each is a new answer;
  the server runs with `--threads` set to the same count.
"""
import argparse, os, platform, shlex, socket, statistics, subprocess, sys, tempfile, time, urllib.request, warnings
from pathlib import Path
import numpy as np, torch
from PIL import Image

def median_ms(fn, runs:int) -> tuple:
    "(median, min, max) milliseconds of `fn()` over `runs` calls, after one warm-up call"
    fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); ts.append(1000*(time.perf_counter() - t))
    return statistics.median(ts), min(ts), max(ts)

def test_images(folder:Path, size:int) -> list:
    "Two `size` px RGB JPEG photos made from Fashion-MNIST sample images (an upload as a phone would send it)"
    from wisefast.datasets import load_fashion_mnist, sample_path
    x, _ = load_fashion_mnist(sample_path())['test']
    res = []
    for i in (0, 1):
        res.append(folder/f'upload{i}.jpg')
        Image.fromarray(x[i]).convert('RGB').resize((size, size), Image.BILINEAR).save(res[-1], quality=90)
    return res

def handler_rows(learn, img, runs:int) -> list:
    "(what, median, min, max) of the page's handler and of its stages, on image file `img`"
    from wisefast.demo import demo_outputs
    from wisefast.interpret import cam_inputs, gradcam, _cam
    model, xb, shown, _ = cam_inputs(learn, [img])
    def forward():
        with torch.no_grad(): return model.eval()(xb).softmax(1)
    cam = gradcam(model, xb)[0]
    overlay = _cam('utils.image').show_cam_on_image
    return [('handler: `demo_outputs` (all of the below)', *median_ms(lambda: demo_outputs([learn], img), runs)),
            ('· image prepared (`cam_inputs`: `test_dl`, decode)', *median_ms(lambda: cam_inputs(learn, [img]), runs)),
            ('· forward (probabilities)', *median_ms(forward, runs)),
            ('· Grad-CAM (`gradcam`: forward + backward)', *median_ms(lambda: gradcam(model, xb), runs)),
            ('· overlay (`show_cam_on_image`)', *median_ms(lambda: overlay(shown[0].astype(np.float32)/255, cam, use_rgb=True), runs))]

def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def page_ms(model_file:Path, imgs:list, runs:int, threads:int) -> tuple:
    "(median, min, max) ms from an upload in headless Chromium to the label and Grad-CAM image shown by `wisefast demo`"
    import shutil
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    port = _free_port()
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'NO_ALBUMENTATIONS_UPDATE': '1'}
    server = subprocess.Popen([str(Path(sys.executable).parent/'wisefast'), 'demo', str(model_file), '--port', str(port),
                               '--threads', str(threads), '--examples', str(imgs[0])], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get('CHROME_BIN') or shutil.which('chromium') or shutil.which('google-chrome')
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
              '--disable-component-update', '--no-first-run', '--disable-sync', '--window-size=1400,1000'):
        opts.add_argument(a)
    drv = None
    try:
        t = time.time()
        while True:
            try:
                urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=5); break
            except OSError:
                if server.poll() is not None or time.time() - t > 300: raise RuntimeError('`wisefast demo` did not start')
                time.sleep(0.5)
        drv = webdriver.Chrome(service=Service(os.environ.get('CHROMEDRIVER') or shutil.which('chromedriver')), options=opts)
        drv.get(f'http://127.0.0.1:{port}/')
        WebDriverWait(drv, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, '#image input[type=file]'))
        cam_src = lambda: drv.execute_script("const i = document.querySelector('#cam-0 img'); "
                                             "return i && i.complete && i.naturalWidth > 0 ? i.src : null")
        label = lambda: ''.join(e.text for e in drv.find_elements(By.CSS_SELECTOR, '#label-0 .output-class')).strip()
        ts = []
        for i in range(runs + 1):
            before = cam_src()
            t = time.perf_counter()
            drv.find_element(By.CSS_SELECTOR, '#image input[type=file]').send_keys(str(imgs[i % 2]))
            WebDriverWait(drv, 120, poll_frequency=0.01).until(lambda d: label() and cam_src() not in (None, before))
            if i: ts.append(1000*(time.perf_counter() - t))      # the first one: the warm-up
        return statistics.median(ts), min(ts), max(ts)
    finally:
        if drv: drv.quit()
        server.terminate(); server.wait(30)

def machine() -> str:
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start; torch {torch.__version__}"

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='resnet18'); p.add_argument('--size', type=int, default=224)
    p.add_argument('--runs', type=int, default=15); p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--page', action='store_true', help='also time the page in headless Chromium')
    p.add_argument('--out', help='write the Markdown report here (default: print it)')
    p.add_argument('--note', default='', help='a sentence on the machine, added to the report (e.g. what else ran)')
    a = p.parse_args()
    warnings.simplefilter('ignore')
    from wisefast.files import write_atomic
    from wisefast.export import save_weights
    from wisefast.load import load_wise_learner
    from wisefast.models import create_wise_model
    tmp = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    model = create_wise_model(a.arch, 10, size=a.size, head='wise', pretrained=False)
    save_weights(model, tmp/'model.safetensors', vocab=[f'class {i}' for i in range(10)])
    learn = load_wise_learner(tmp/'model.safetensors', cpu=True)
    imgs = test_images(tmp, a.size)
    n_params = sum(p.numel() for p in learn.model.parameters())
    cmd = shlex.join(['python', 'benchmarks/demo_latency.py', *sys.argv[1:]])
    lines = [f"# `wisefast demo`: time to answer one {a.size} px image", '',
             f"`{cmd}` on {machine()}. Model: `{a.arch}` with a Wise-SrNet head, {n_params:,} parameters, "
             f"{a.size}×{a.size} px input, 10 classes, loaded from `save_weights`' file by `load_wise_learner` (as "
             f"`wisefast demo` loads it). {a.note + ' ' if a.note else ''}Median of {a.runs} runs after a warm-up "
             "(min–max in brackets), milliseconds.", '',
             '| what | ' + ' | '.join(f'{t} torch thread(s)' for t in a.threads) + ' |', '|---|' + '---|'*len(a.threads)]
    res = {}
    for t in a.threads:
        torch.set_num_threads(t)
        res[t] = handler_rows(learn, imgs[0], a.runs)
        if a.page: res[t].append(('page: upload in Chromium to label and map shown', *page_ms(tmp/'model.safetensors', imgs, a.runs, t)))
    for i, (what, *_) in enumerate(res[a.threads[0]]):
        lines.append(f"| {what} | " + ' | '.join(f"{res[t][i][1]:.0f} ({res[t][i][2]:.0f}–{res[t][i][3]:.0f})" for t in a.threads) + ' |')
    t = 1 if 1 in res else a.threads[0]                 # `wisefast demo`'s default: one thread
    what, ms = res[t][-1][0].split(':')[0], res[t][-1][1]
    lines += ['', f"**Goal: the answer within 2,000 ms. {'Met' if ms < 2000 else 'Missed'}** with {t} thread(s) "
              f"({'`wisefast demo`' + chr(39) + 's default' if t == 1 else 'not the default'}): {ms:.0f} ms, the {what}'s median."]
    text = '\n'.join(lines) + '\n'
    if a.out: write_atomic(a.out, text)
    print(text)

if __name__ == '__main__': main()
