#!/usr/bin/env python
"""Build the wisefast documentation site offline, without Quarto.

    python tools/build_docs.py [--no-exec] [--out _site] [--workers 2] [--keep-going] [--quarto]

1. **Execute** every notebook under `nbs/` (as `nbdev-test` does: in its own process, from its own folder, cells
   flagged with the `tst_flags` of pyproject.toml such as `#| slow` skipped), so the pages show tables and plots. The
   executed copies are cached in `_proc/.exec/` and rerun only when the notebook or the library changed.
   `--no-exec` renders the notebooks as they are (outputs are kept empty in this repository).
2. **Process** them with nbdev's own docs processors (`FilterDefaults`: frontmatter, `show_doc`, hidden and exported
   cells, links), into `_proc/` exactly as `nbdev-proc-nbs` does. (`nbdev-proc-nbs` itself first installs Quarto,
   which is impossible offline, so this script calls the processors directly.) `_proc/sidebar.yml` lists only the
   pages that exist, so `--quarto` (or `cd _proc && quarto render`) renders the same site where Quarto exists.
3. **Render** each processed notebook to static HTML in `--out` with nbconvert's markdown and ANSI filters and Pygments:
   one page per notebook, named like Quarto names it (`00_heads.ipynb` -> `heads.html`), with the navigation sidebar of
   `nbs/sidebar.yml`, a table of contents, embedded plots, and links to the hosted docs rewritten to relative links.
"""
from __future__ import annotations
import argparse, base64, copy, html, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = re.compile(r'^[_.]')             # like nbdev: `_proc`, `.ipynb_checkpoints`, `_private` ... are not pages
ENV = dict(HF_HUB_OFFLINE='1', NO_ALBUMENTATIONS_UPDATE='1', MPLBACKEND='Agg')

# ------------------------------------------------------------------------------------------------ finding the pages
def find_notebooks(nbs:Path) -> list[Path]:
    "Notebooks under `nbs`, relative to it, skipping folders that start with `_` or `.` (as nbdev does)."
    res = []
    for dirpath, dirnames, filenames in os.walk(nbs):
        dirnames[:] = sorted(d for d in dirnames if not SKIP_DIRS.match(d))
        res += [Path(dirpath, f).relative_to(nbs) for f in sorted(filenames) if f.endswith('.ipynb') and not f.startswith('.')]
    return res

def page_path(nb_rel:Path) -> Path:
    "Site path of the page built from notebook `nb_rel` (nbdev/Quarto naming: lower case, numeric prefix dropped)."
    from nbdev.config import nbpath2html
    return nbpath2html(nb_rel)

def lib_mtime(cfg) -> float:
    "Newest modification time of the library's modules and of this script: executed or processed copies older are stale."
    return max([p.stat().st_mtime for p in Path(cfg.lib_path).rglob('*.py')] + [Path(__file__).stat().st_mtime])

# ------------------------------------------------------------------------------------------------ 1+2: execute, process
def _worker(src:Path, ex:Path|None, dst:Path, run:bool, timeout:int|None, flags:str='') -> int:
    "In a fresh process: execute `src` into `ex` if `run`, then process `ex` (or `src` if None) with nbdev into `dst`."
    from fastcore.nbio import read_nb, write_nb
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.processors import FilterDefaults, exec_show_docs
    os.environ.update(ENV, IN_TEST='1')            # what `nbdev-test` and nbdev's processing step (`serve_drv`) set
    os.chdir(src.parent)
    status = 0
    if run:
        from nbdev.test import _skip_cell
        from execnb.shell import CaptureShell
        nb = NBProcessor(src, rm_directives=False, process=True).nb
        shell = CaptureShell(src)
        try: shell.run_all(nb, exc_stop=True, preproc=_skip_cell(nb, get_config().tst_flags.split(), flags.split(',')),
                                cell_timeout=timeout)
        except BaseException:
            sys.__stderr__.write(f'{src.name}: execution failed: {shell.prettytb(fname=src) or sys.exc_info()[1]!r}\n')
            status = 2                             # keep the outputs up to the failing cell, but do not cache them
        for c in nb.cells: c.pop('directives_', None)
        ex.parent.mkdir(parents=True, exist_ok=True)
        write_nb(nb, ex)
    nb = read_nb(ex if ex is not None else src)
    nb.path_ = str(src)                            # frontmatter's `output-file` comes from the notebook's own name
    try: FilterDefaults()(done := copy.deepcopy(nb)); nb = done
    except Exception as e:                         # nbdev-docs would stop here; we build the page without `show_doc`
        sys.__stderr__.write(f'{src.name}: nbdev could not process it: {e}\n-> built without its show_doc output\n')
        status = status or 3
        procs = [p for p in FilterDefaults().procs() if p is not exec_show_docs]
        NBProcessor(nb=nb, procs=procs, rm_directives='quarto').process()
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dst)
    if status == 2: os.utime(ex, (0, 0))                # a failed run is retried next time
    return status

def process_all(cfg, nbs:Path, proc:Path, execute:bool, workers:int, timeout:int|None, force:bool, flags:str='') -> dict:
    "Execute (optionally) and process every notebook into `proc`, `workers` at a time; return {notebook: status}."
    stale = lib_mtime(cfg)
    sfile = proc/'.status.json'                    # results of earlier runs, for the notebooks not redone now
    old = json.loads(sfile.read_text()) if sfile.exists() else {}
    jobs, status = [], {}
    for rel in find_notebooks(nbs):
        src, dst, ex = nbs/rel, proc/rel, proc/'.exec'/rel
        inp = ex if execute else src
        mt = lambda p: p.stat().st_mtime if p.exists() else -1
        need_exec = execute and (force or mt(ex) < max(mt(src), stale))
        if not (need_exec or force or mt(dst) < max(mt(inp), mt(src), stale)):
            status[rel] = old.get(rel.as_posix(), 0); continue
        jobs.append((rel, [sys.executable, __file__, '--_worker', str(src), str(ex) if execute else '', str(dst),
                           str(int(need_exec)), str(timeout or 0), flags]))
    running = []
    while jobs or running:
        while jobs and len(running) < workers:
            rel, cmd = jobs.pop(0)
            print(f'  {"executing" if cmd[6] == "1" else "processing"} {rel}', flush=True)
            running.append((rel, subprocess.Popen(cmd, env={**os.environ, **ENV}), time.time()))
        time.sleep(0.2)
        for r in [r for r in running if r[1].poll() is not None]:
            running.remove(r)
            rel, p, t0 = r
            status[rel] = p.returncode
            msg = {0: 'done', 2: 'FAILED to execute', 3: 'FAILED in nbdev processing'}.get(p.returncode, 'FAILED')
            print(f'  {msg} {rel} ({time.time()-t0:.0f}s)', flush=True)
    sfile.parent.mkdir(parents=True, exist_ok=True)
    sfile.write_text(json.dumps({k.as_posix(): v for k, v in status.items()}, indent=1))
    return status

def copy_assets(nbs:Path, dest:Path):
    "Copy the non-notebook files under `nbs` (images, css, yml ...) to `dest`, as nbdev does into `_proc`."
    for dirpath, dirnames, filenames in os.walk(nbs):
        dirnames[:] = [d for d in dirnames if not SKIP_DIRS.match(d)]
        for f in filenames:
            s = Path(dirpath, f)
            if f.endswith('.ipynb') or f.startswith('.'): continue
            d = dest/s.relative_to(nbs)
            if d.exists() and d.stat().st_mtime >= s.stat().st_mtime: continue
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, d)

# ------------------------------------------------------------------------------------------------ the sidebar
def read_sidebar(nbs:Path) -> list:
    "The `contents` of `nbs/sidebar.yml` (Quarto's format: file names, `{section, contents}`, `{text, href}`)."
    import yaml
    p = nbs/'sidebar.yml'
    if not p.exists(): return []
    return ((yaml.safe_load(p.read_text()) or {}).get('website', {}).get('sidebar', {}) or {}).get('contents', []) or []

def _entry_href(e): return e if isinstance(e, str) else (e.get('href') or e.get('file')) if isinstance(e, dict) else None

def filter_sidebar(contents:list, exists) -> list:
    "`contents` keeping only entries whose file `exists(href)` (external links kept) and sections left non-empty."
    res = []
    for e in contents:
        if isinstance(e, dict) and 'section' in e:
            sub = filter_sidebar(e.get('contents') or [], exists)
            href = e.get('href')
            if sub or (href and exists(href)): res.append({**e, 'contents': sub})
        elif isinstance(e, dict) and 'auto' in e: continue          # Quarto globs: not supported offline
        else:
            href = _entry_href(e)
            if href and (re.match(r'^[a-z]+://', href) or exists(href)): res.append(e)
    return res

def sidebar_pages(contents:list) -> list[str]:
    "Every file named in sidebar `contents`, in order."
    res = []
    for e in contents:
        if isinstance(e, dict) and 'section' in e:
            if e.get('href'): res.append(e['href'])
            res += sidebar_pages(e.get('contents') or [])
        elif _entry_href(e): res.append(_entry_href(e))
    return res

# ------------------------------------------------------------------------------------------------ 3: HTML
_re_dir = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')

def cell_directives(src:str) -> tuple[dict, str]:
    "Split Quarto `#| key: value` lines at the top of a code cell from its code."
    lines, opts = src.splitlines(), {}
    while lines and _re_dir.match(lines[0]):
        k, v = _re_dir.match(lines.pop(0)).groups()
        opts[k] = v.strip('\'"').lower()
    return opts, '\n'.join(lines).strip('\n')

def _false(v): return str(v).lower() in ('false', 'no', '0')

_re_attr_link = re.compile(r'\[([^\]]*)\]\(([^)\s]*)\)\{((?:\s*[\w-]+="[^"]*")+)\s*\}')

def _md(src:str, cell=None) -> str:
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
    src = _re_attr_link.sub(lambda m: f'<a href="{m[2]}" {m[3]}>{m[1]}</a>', src)   # Pandoc `[x](u){target=...}`
    return MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=(cell or {}).get('attachments'))).render(src)

def _code(src:str, lang='python') -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    try: lexer = get_lexer_by_name(lang)
    except Exception: lexer = get_lexer_by_name('text')
    return highlight(src, lexer, HtmlFormatter(cssclass='highlight sourceCode'))

def _text(v): return ''.join(v) if isinstance(v, list) else (v or '')

def _term(text:str) -> str:
    "What a terminal shows for `text`: a carriage return rewinds the line (progress bars), later text overwrites."
    lines = []
    for line in text.split('\n'):
        buf = []
        for seg in line.split('\r'): buf[:len(seg)] = seg
        lines.append(''.join(buf).rstrip())
    return '\n'.join(lines)

_re_warning = re.compile(r'^\S*:\d+: \w*Warning: ', re.M)

def render_output(o:dict, asis:bool) -> str:
    "HTML for one output of a code cell: images embedded, markdown rendered, text preformatted."
    from nbconvert.filters.ansi import ansi2html
    t = o.get('output_type')
    if t == 'stream':
        text = _term(_text(o.get('text')))
        if not text.strip() or o.get('name') == 'stderr' and _re_warning.search(text): return ''  # no warnings in docs
        return f'<div class="cell-output cell-output-{o.get("name", "stdout")}"><pre>{ansi2html(text)}</pre></div>'
    if t == 'error':
        return f'<div class="cell-output cell-output-error"><pre>{ansi2html(chr(10).join(o.get("traceback", [])))}</pre></div>'
    d = o.get('data', {})
    for mime in ('image/png', 'image/jpeg', 'image/gif'):
        if mime in d:
            md, alt = o.get('metadata', {}).get(mime, {}), html.escape(_text(d.get('text/plain', 'plot'))[:80], quote=True)
            size = ''.join(f' {k}="{md[k]}"' for k in ('width', 'height') if k in md)
            return f'<div class="cell-output cell-output-display"><img src="data:{mime};base64,{_text(d[mime]).strip()}" alt="{alt}"{size}></div>'
    if 'image/svg+xml' in d:
        b64 = base64.b64encode(_text(d['image/svg+xml']).encode()).decode()
        return f'<div class="cell-output cell-output-display"><img src="data:image/svg+xml;base64,{b64}" alt="plot"></div>'
    if 'text/html' in d: return f'<div class="cell-output cell-output-display">{_text(d["text/html"])}</div>'
    if 'text/markdown' in d:
        body = _md(_text(d['text/markdown']))
        return body if asis else f'<div class="cell-output cell-output-display">{body}</div>'
    if 'text/plain' in d:
        return f'<div class="cell-output cell-output-display"><pre>{ansi2html(_text(d["text/plain"]))}</pre></div>'
    return ''

def render_cells(nb:dict) -> tuple[dict, str]:
    "Frontmatter and body HTML of a processed notebook, honouring Quarto's `echo`, `output` and `include` options."
    import yaml
    fm, parts = {}, []
    lang = nb.get('metadata', {}).get('kernelspec', {}).get('language', 'python')
    for cell in nb.get('cells', []):
        src, ct = _text(cell.get('source')), cell.get('cell_type')
        if ct == 'raw':
            m = re.match(r'^\s*---\s*\n(.*?)\n---\s*$', src, re.S)
            if m and not fm: fm = yaml.safe_load(m.group(1)) or {}
            continue
        if ct == 'markdown':
            if src.strip() and not re.fullmatch(r'\s*<!--.*?-->\s*', src, re.S): parts.append(f'<div class="cell-md">{_md(src, cell)}</div>')
            continue
        if ct != 'code': continue
        opts, code = cell_directives(src)
        if _false(opts.get('include', 'true')): continue
        asis = opts.get('output') == 'asis'
        out = '' if _false(opts.get('output', 'true')) else ''.join(render_output(o, asis) for o in cell.get('outputs', []))
        inp = '' if _false(opts.get('echo', 'true')) or not code.strip() else _code(code, lang)
        if inp or out: parts.append(f'<div class="cell">{inp}{out}</div>')
    return fm, '\n'.join(parts)

def _slug(text:str) -> str:
    "Pandoc's header identifier (what Quarto uses as anchors): lower case, letters, digits, `_-.`, spaces to `-`."
    s = re.sub(r'[^\w\s.-]', '', text.strip().lower()).replace(' ', '-')
    return re.sub(r'^[^a-z]+', '', s) or 'section'

CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#212529;background:#fff}
a{color:#2780e3;text-decoration:none} a:hover{text-decoration:underline}
.navbar{position:sticky;top:0;z-index:10;display:flex;gap:1.5rem;align-items:center;height:3.2rem;padding:0 1.5rem;background:#2780e3}
.navbar a{color:#fff;font-weight:500} .navbar .brand{font-size:1.25rem;font-weight:600}
.layout{display:grid;grid-template-columns:16rem minmax(0,1fr) 14rem;gap:2rem;max-width:92rem;margin:0 auto;padding:0 1.5rem}
nav.sidebar,nav.toc{position:sticky;top:3.2rem;align-self:start;max-height:calc(100vh - 3.2rem);overflow-y:auto;padding:1.5rem 0;font-size:.92rem}
nav.sidebar ul,nav.toc ul{list-style:none;margin:0;padding:0} nav.sidebar ul ul{padding-left:.9rem}
nav.sidebar li{margin:.15rem 0} nav.sidebar a{display:block;padding:.15rem .5rem;border-radius:.25rem;color:#343a40}
nav.sidebar a.active{background:#e9f2fc;color:#1a5da6;font-weight:600}
nav.sidebar .section{display:block;margin:.9rem 0 .2rem;padding:0 .5rem;font-weight:600;color:#6c757d;text-transform:uppercase;font-size:.78rem;letter-spacing:.04em}
nav.toc h2{font-size:.85rem;margin:0 0 .5rem;color:#6c757d} nav.toc li{margin:.2rem 0} nav.toc li.h3{padding-left:.8rem}
nav.toc a{color:#495057}
main{min-width:0;padding:1.5rem 0 4rem}
#title-block-header{margin-bottom:1.5rem} h1.title{font-size:2.2rem;margin:.3rem 0}
h1,h2,h3,h4{scroll-margin-top:4rem} .description p{margin:.2rem 0}
h2{margin-top:2rem;border-bottom:1px solid #dee2e6;padding-bottom:.25rem} h3{margin-top:1.6rem}
a.anchor-link{visibility:hidden;margin-left:.3rem;color:#adb5bd} h1:hover a.anchor-link,h2:hover a.anchor-link,h3:hover a.anchor-link,h4:hover a.anchor-link{visibility:visible}
pre{overflow-x:auto;padding:.6rem .8rem;margin:0;font-size:.85rem;line-height:1.4}
code{font-size:.88em;color:#9753b8} pre code{color:inherit}
div.highlight{background:#f8f9fa;border-radius:.3rem;margin:.4rem 0}
.cell{margin:1rem 0} .cell-output pre{background:none}
.cell-output-error pre{background:#fff5f5;border-left-color:#dc3545}
.cell-output img{display:block;max-width:100%;height:auto;margin:.4rem 0}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem;display:block;overflow-x:auto}
th,td{border-bottom:1px solid #dee2e6;padding:.3rem .7rem;text-align:left} thead th{border-bottom:2px solid #adb5bd}
hr{border:0;border-top:1px solid #dee2e6;margin:1.5rem 0}
blockquote{margin:1rem 0;padding:.2rem 1rem;border-left:4px solid #dee2e6;color:#6c757d}
.callout{border-left:4px solid #ffc107;background:#fff8e1;padding:.6rem 1rem;margin:1rem 0}
footer{grid-column:2;color:#6c757d;font-size:.85rem;border-top:1px solid #dee2e6;padding:1rem 0 2rem}
@media (max-width:1100px){.layout{grid-template-columns:14rem minmax(0,1fr)} nav.toc{display:none}}
@media (max-width:700px){.layout{display:block} nav.sidebar{position:static;max-height:none}}
"""

def _rel(target:str, page:str) -> str:
    "Relative URL from site page `page` to site path `target` (both relative to the site root, POSIX)."
    return os.path.relpath(target, os.path.dirname(page) or '.').replace(os.sep, '/')

def sidebar_html(contents:list, page:str, nb2page:dict, titles:dict) -> str:
    "Nested `<ul>` of `contents` with links relative to `page`."
    items = []
    for e in contents:
        if isinstance(e, dict) and 'section' in e:
            head = html.escape(str(e['section']))
            if e.get('href') in nb2page: head = f'<a href="{_rel(nb2page[e["href"]], page)}">{head}</a>'
            items.append(f'<li><span class="section">{head}</span>{sidebar_html(e.get("contents") or [], page, nb2page, titles)}</li>')
            continue
        href = _entry_href(e)
        if href in nb2page:
            tgt = nb2page[href]
            text = (e.get('text') if isinstance(e, dict) else None) or titles.get(tgt, tgt)
            cls = ' class="active"' if tgt == page else ''
            items.append(f'<li><a href="{_rel(tgt, page)}"{cls}>{html.escape(text)}</a></li>')
        elif href:
            items.append(f'<li><a href="{html.escape(href)}">{html.escape(e.get("text", href) if isinstance(e, dict) else href)}</a></li>')
    return '<ul>' + ''.join(items) + '</ul>'

def fix_links(body:str, page:str, nb2page:dict, site_url:str, pages:set) -> tuple[str, str]:
    "Heading ids as Quarto makes them, links to notebooks and to the hosted site made relative; also return the toc."
    from bs4 import BeautifulSoup
    soup = BeautifulSoup(body, 'html.parser')
    seen, toc = set(), []
    for h in soup.find_all(['h1', 'h2', 'h3', 'h4']):
        for a in h.find_all('a', class_='anchor-link'): a.decompose()
        base = _slug(h.get_text()); hid, i = base, 1
        while hid in seen: hid, i = f'{base}-{i}', i + 1
        seen.add(hid); h['id'] = hid
        a = soup.new_tag('a', href=f'#{hid}', attrs={'class': 'anchor-link'}); a.string = '¶'; h.append(a)
        if h.name in ('h2', 'h3'): toc.append((h.name, hid, h.get_text().rstrip('¶').strip()))
    page_dir = os.path.dirname(page)
    for a in soup.find_all('a', href=True):
        href = a['href']
        if site_url and href.startswith(site_url + '/'):
            path, _, frag = href[len(site_url) + 1:].partition('#')
            path = re.sub(r'\.html\.md$|\.md$', '.html', path) or 'index.html'
            if path in pages: a['href'] = _rel(path, page) + (f'#{frag}' if frag else '')
            continue
        if re.match(r'^[a-z]+:|^#|^/', href): continue
        path, _, frag = href.partition('#')
        tgt = os.path.normpath(os.path.join(page_dir, path)).replace(os.sep, '/')
        if path.endswith(('.ipynb', '.qmd', '.md')):
            tgt_nb = next((k for k in nb2page if os.path.splitext(k)[0] == os.path.splitext(tgt)[0]), None)
            if tgt_nb: a['href'] = _rel(nb2page[tgt_nb], page) + (f'#{frag}' if frag else '')
    for a in soup.find_all('a', target=True): a['rel'] = 'noopener'
    toc_html = ''.join(f'<li class="{n}"><a href="#{i}">{html.escape(t)}</a></li>' for n, i, t in toc)
    return str(soup), (f'<nav class="toc"><h2>On this page</h2><ul>{toc_html}</ul></nav>' if toc else '<nav class="toc"></nav>')

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – {site}</title>
<meta name="description" content="{description}">
<link rel="stylesheet" href="{root}site.css">
<link rel="stylesheet" href="{root}styles.css">
</head>
<body>
<header class="navbar"><a class="brand" href="{root}index.html">{site}</a><a href="{repo}">GitHub</a></header>
<div class="layout">
<nav class="sidebar" aria-label="Pages">{sidebar}</nav>
<main id="quarto-document-content">
<header id="title-block-header"><h1 class="title">{title}</h1>{desc_html}</header>
{body}
</main>
{toc}
<footer>Built offline from the notebooks by <code>tools/build_docs.py</code> ({when}).</footer>
</div>
</body>
</html>
"""

def render_site(cfg, nbs:Path, proc:Path, out:Path, status:dict) -> list[str]:
    "Write one HTML page per processed notebook in `proc` into `out`; return the pages written."
    from pygments.formatters import HtmlFormatter
    nb_rels = find_notebooks(nbs)
    nb2page = {rel.as_posix(): page_path(rel).as_posix() for rel in nb_rels}
    rendered = {}
    for rel in nb_rels:
        p = proc/rel
        if not p.exists(): continue
        fm, body = render_cells(json.loads(p.read_text()))
        page = Path(rel.parent, fm.get('output-file') or page_path(rel).name).as_posix()
        nb2page[rel.as_posix()] = page
        title = str(fm.get('title') or rel.stem)
        rendered[page] = (rel, fm, body, title)
    titles = {pg: v[3] for pg, v in rendered.items()}
    contents = filter_sidebar(read_sidebar(nbs), lambda h: h in nb2page and nb2page[h] in rendered)
    listed = set(sidebar_pages(contents))
    extra = [r.as_posix() for r in nb_rels if r.as_posix() not in listed and nb2page[r.as_posix()] in rendered]
    if extra: print(f'  note: not in nbs/sidebar.yml, built but not in the navigation: {", ".join(extra)}')
    if 'index.html' not in rendered:                       # no home notebook yet: a home page listing the others
        body = '<p>The home page notebook <code>nbs/index.ipynb</code> does not exist yet. Pages:</p>'
        rendered['index.html'] = (None, {'description': cfg.get('description', '')}, body, cfg.get('title', 'Home'))
        titles['index.html'] = cfg.get('title', 'Home')
        contents = ['index.html'] + contents; nb2page['index.html'] = 'index.html'
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    copy_assets(nbs, out)
    for f in ('_quarto.yml', 'sidebar.yml', 'nbdev.yml'): (out/f).unlink(missing_ok=True)
    (out/'site.css').write_text(CSS + HtmlFormatter(style='default').get_style_defs('.highlight'))
    if not (out/'styles.css').exists(): (out/'styles.css').write_text('')
    site_url = f"{cfg.get('doc_host', '')}{cfg.get('doc_baseurl', '')}".rstrip('/')
    when = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    for page, (rel, fm, body, title) in rendered.items():
        if rel is None: body += sidebar_html(contents[1:], page, nb2page, titles)
        if rel is not None and status.get(rel):
            why = ('failed to execute, so its outputs stop at the failing cell' if status[rel] == 2 else
                   'could not be processed by nbdev (a <code>show_doc</code> cell failed), so its API documentation is missing')
            body = f'<div class="callout">The notebook of this page {why}; see the output of <code>make docs</code>.</div>' + body
        body, toc = fix_links(body, page, nb2page, site_url, set(rendered))
        desc = fm.get('description') or ''
        (out/page).parent.mkdir(parents=True, exist_ok=True)
        (out/page).write_text(PAGE.format(
            title=html.escape(title), site=html.escape(cfg.get('title', 'docs')), description=html.escape(str(desc), quote=True),
            desc_html=f'<div class="description">{_md(str(desc))}</div>' if desc else '',
            root='../' * page.count('/'), repo=cfg.get('git_url', '#'),
            sidebar=sidebar_html(contents, page, nb2page, titles), body=body, toc=toc, when=when))
    (out/'.nojekyll').write_text('')
    (out/'.build.json').write_text(json.dumps({r.as_posix(): s for r, s in status.items()}, indent=1))
    return list(rendered)

def write_proc_config(nbs:Path, proc:Path, have:set):
    "Copy the Quarto configuration into `proc`, with a sidebar listing only the pages that exist."
    import yaml
    copy_assets(nbs, proc)
    sb = nbs/'sidebar.yml'
    if sb.exists():
        d = yaml.safe_load(sb.read_text()) or {}
        d.setdefault('website', {}).setdefault('sidebar', {})['contents'] = filter_sidebar(read_sidebar(nbs), lambda h: h in have)
        (proc/'sidebar.yml').write_text(yaml.safe_dump(d, sort_keys=False))

def quarto_render(cfg, proc:Path):
    "Render `proc` with Quarto into the configured `doc_path`, as `nbdev-docs` does."
    if not shutil.which('quarto'): sys.exit('--quarto: the `quarto` command is not installed')
    subprocess.run(['quarto', 'render', '--no-execute'], cwd=proc, check=True)
    doc = Path(cfg.doc_path)
    shutil.rmtree(doc, ignore_errors=True)
    shutil.move(str(proc/doc.name), str(doc))
    from nbdev.quarto import _fix_quarto_nav
    _fix_quarto_nav(doc)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--no-exec', action='store_true', help='render the notebooks without executing them')
    ap.add_argument('--out', default='_site', help='output folder of the static site (relative to the project root)')
    ap.add_argument('--workers', type=int, default=2, help='notebooks executed at the same time')
    ap.add_argument('--force', action='store_true', help='ignore the caches in _proc/ and redo everything')
    ap.add_argument('--keep-going', action='store_true', help='exit 0 even when a notebook fails to execute')
    ap.add_argument('--render-only', action='store_true', help='only render the notebooks already processed in _proc/')
    ap.add_argument('--quarto', action='store_true', help='also render _proc/ with Quarto into doc_path (_docs/)')
    ap.add_argument('--flags', default='', help='also run the cells with these flags, comma-separated (e.g. slow; add --force to redo cached notebooks)')
    ap.add_argument('--_worker', nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._worker:
        src, ex, dst, run, to, flags = a._worker
        return _worker(Path(src), Path(ex) if ex else None, Path(dst), run == '1', int(to) or None, flags)
    os.chdir(ROOT)
    os.environ.update(ENV)
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml
    cfg = get_config()
    refresh_quarto_yml()                                   # nbs/nbdev.yml from pyproject.toml, as nbdev-docs does
    nbs, proc, out = Path(cfg.nbs_path), Path(cfg.config_path)/'_proc', (ROOT/a.out).resolve()
    t0 = time.time()
    if not a.render_only: print(f'{"Processing" if a.no_exec else "Executing and processing"} notebooks in {nbs} -> {proc}', flush=True)
    if a.render_only:
        sfile = proc/'.status.json'
        status = {Path(k): v for k, v in (json.loads(sfile.read_text()) if sfile.exists() else {}).items()}
    else: status = process_all(cfg, nbs, proc, not a.no_exec, max(1, a.workers), int(cfg.get('cell_timeout', 600)), a.force,
                                a.flags)
    have = {r.as_posix() for r in find_notebooks(nbs) if (proc/r).exists()}
    write_proc_config(nbs, proc, have)
    pages = render_site(cfg, nbs, proc, out, status)
    failed = [str(r) for r, s in status.items() if s]
    print(f'Built {len(pages)} pages into {out} in {time.time()-t0:.0f}s: {", ".join(sorted(pages))}')
    if a.quarto: quarto_render(cfg, proc)
    if failed:
        print(f'FAILED: {", ".join(failed)} (see the errors above)', file=sys.stderr)
        if not a.keep_going: return 1
    return 0

if __name__ == '__main__': sys.exit(main())
