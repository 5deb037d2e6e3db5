"""The documentation site: `tools/build_docs.py` builds it offline, headless Chromium opens every page.

Checks, on the home page, every reference page and every tutorial: a title, navigation links that resolve to pages
of the site, every image loaded (plots are embedded), table-of-contents anchors that exist, no errors in the browser
log. Needs the Debian packages `chromium` and `chromium-driver` (or Google Chrome and its chromedriver); without them
the browser tests are skipped. The build is incremental (`_proc/.exec` caches executed notebooks), so a second run
takes seconds.
"""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import build_docs as bd  # noqa: E402

NBS, SITE, PROC = ROOT/'nbs', ROOT/'_site', ROOT/'_proc'


def _which(*names):
    return next((p for p in map(shutil.which, names) if p), None)

NO_BROWSER = bool(os.environ.get('WISEFAST_NO_BROWSER'))   # `.ci/run` hides the browser to test what a fresh machine sees
CHROME = None if NO_BROWSER else (os.environ.get('CHROME_BIN') or
                                  _which('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'))
DRIVER = (os.environ.get('CHROMEDRIVER') or _which('chromedriver') or
          (str(Path(os.environ['CHROMEWEBDRIVER'])/'chromedriver') if os.environ.get('CHROMEWEBDRIVER') else None))
needs_chromium = pytest.mark.skipif(not (CHROME and DRIVER),
    reason='headless Chromium not installed: apt-get install -y chromium chromium-driver' if not NO_BROWSER else
           'WISEFAST_NO_BROWSER is set')


def expected_pages():
    "{site page: notebook} for every notebook under nbs/, plus the home page."
    res = {bd.page_path(rel).as_posix(): rel.as_posix() for rel in bd.find_notebooks(NBS)}
    res.setdefault('index.html', None)
    return res


def test_sidebar_lists_every_notebook():
    "nbs/sidebar.yml (used by Quarto, custom_sidebar=true) names exactly the notebooks that exist."
    listed = bd.sidebar_pages(bd.read_sidebar(NBS))
    nbs = [r.as_posix() for r in bd.find_notebooks(NBS)]
    assert not [n for n in nbs if n not in listed], 'add these notebooks to nbs/sidebar.yml'
    assert not [n for n in listed if not re.match(r'^[a-z]+://', n) and n not in nbs], \
        'nbs/sidebar.yml names notebooks that do not exist: remove them or add the notebooks'
    assert len(listed) == len(set(listed))


def test_quarto_config():
    "`nbdev-docs` needs nbdev.yml next to _quarto.yml, and _quarto.yml must load the sidebar."
    import yaml
    q = yaml.safe_load((NBS/'_quarto.yml').read_text())
    assert q['project']['type'] == 'website'
    assert {'nbdev.yml', 'sidebar.yml'} <= set(q['metadata-files'])
    assert (NBS/'nbdev.yml').exists() and (NBS/'styles.css').exists()


@pytest.fixture(scope='module')
def site():
    "Build the site (incrementally) into _site/; with DOCS_PREBUILT=1 (as `make test` runs), check the _site/ built before."
    if os.environ.get('DOCS_PREBUILT'):
        if not (SITE/'index.html').exists(): pytest.fail('DOCS_PREBUILT=1 but _site/ is not built: run `make docs`')
        return subprocess.CompletedProcess([], 0, stdout='', stderr='')
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--keep-going'], cwd=ROOT,
                       capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return r


def test_build(site):
    "Every notebook becomes a page; nbdev's own processing (`show_doc`) works on each of them."
    for page in expected_pages(): assert (SITE/page).exists(), f'{page} was not built'
    status = json.loads((SITE/'.build.json').read_text())   # 0 ok, 2 failed to execute, 3 nbdev processing failed
    failed = [nb for nb, s in status.items() if s == 2]
    assert not failed, f'notebooks that fail to execute: {failed}\n' + site.stderr[-3000:]
    bad = [nb for nb, s in status.items() if s == 3]
    assert not bad, (f'nbdev-docs would fail on {bad}: to build show_doc output nbdev runs every cell that contains an '
                     f'import, so keep imports in cells of their own.\n' + site.stderr[-3000:])


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    if not (CHROME and DRIVER): pytest.skip('headless Chromium not installed')
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROME
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
              '--disable-dev-shm-usage', '--window-size=1400,1000', f'--user-data-dir={tmp_path_factory.mktemp("chrome")}'):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _local(url):
    "Path on disk of a file:// URL (no fragment), or None for other schemes."
    u = urlparse(url)
    return Path(unquote(u.path)) if u.scheme == 'file' else None


def _n_images(nb_rel):
    "Image outputs in the processed notebook (each must appear as an <img> on its page)."
    p = PROC/nb_rel if nb_rel else None
    if not p or not p.exists(): return 0
    cells = json.loads(p.read_text())['cells']
    return sum(any(k.startswith('image/') for k in o.get('data', {})) for c in cells for o in c.get('outputs', []))


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize('page', sorted(expected_pages()))
def test_page_renders(site, browser, page, tmp_path_factory):
    browser.get((SITE/page).as_uri())
    title = browser.find_element('css selector', 'h1.title').text.strip()
    assert title and browser.title.startswith(title), f'{page}: no title'
    # navigation: every sidebar link opens a page of the site, and the sidebar reaches every page
    nav = [a.get_attribute('href') for a in browser.find_elements('css selector', 'nav.sidebar a')]
    nav_files = {_local(h) for h in nav if _local(h)}
    assert all(p.is_file() for p in nav_files), f'{page}: broken navigation links {[p for p in nav_files if not p.is_file()]}'
    built = {(SITE/p).resolve() for p in expected_pages() if (SITE/p).exists()}
    assert nav_files >= built, f'{page}: the sidebar misses {sorted(map(str, built - nav_files))}'
    # every other link inside the site resolves too
    links = [_local(a.get_attribute('href')) for a in browser.find_elements('css selector', 'main a[href]')]
    broken = [str(p) for p in links if p and not p.exists()]
    assert not broken, f'{page}: broken links {broken}'
    missing = browser.execute_script(
        "return Array.from(document.querySelectorAll('nav.toc a')).map(a => a.hash.slice(1))"
        ".filter(h => !document.getElementById(decodeURIComponent(h)))")
    assert not missing, f'{page}: table of contents points at missing anchors {missing}'
    # plots and other images: all loaded, and as many as the notebook's image outputs
    bad = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80))")
    assert not bad, f'{page}: images that did not load: {bad}'
    n_img = browser.execute_script("return document.querySelectorAll('main img').length")
    assert n_img >= _n_images(expected_pages()[page]), f'{page}: plots missing'
    errors = [e for e in browser.get_log('browser') if e['level'] == 'SEVERE']
    assert not errors, f'{page}: browser errors {errors}'
    if page == 'index.html' or page == 'heads.html':
        out = Path(os.environ.get('DOCS_SCREENSHOTS') or tmp_path_factory.mktemp('screens'))
        out.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(out/page.replace('/', '_').replace('.html', '.png')))
