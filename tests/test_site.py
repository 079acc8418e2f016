"""The course website (tools/site.py), built from the committed notebooks and checked in Chromium as a reader
meets it: every page over http://127.0.0.1, with any request to another host blocked and listed.

Uses Debian's Chromium and Playwright, as tests/test_browser.py does (skipped without them unless
``CI_REQUIRE_BROWSER=1``). Screenshots of the landing page and of a notebook page in each language are saved
in artifacts/site-screenshots/.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

from conftest import BROWSER_REQUIRED, require_browser
from tools import links, nbkit, site
from tools.paths import REPO

OUT = REPO / "artifacts" / "site"
SHOTS = REPO / "artifacts" / "site-screenshots"
SEARCHES = {"en": ("DataLoader", "notebooks/01_"), "ko": ("데이터셋과", "notebooks/ko/01_")}



@pytest.fixture(scope="module")
def built():
    return site.build(OUT, log=print)


@pytest.fixture(scope="module")
def served(built):
    httpd = site.server(built)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    chromium_path = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Visitor:
    """A browser page that blocks and lists every request to a host other than the site's."""

    def __init__(self, browser, base: str):
        self.base, self.foreign, self.errors = base, [], []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base) or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            self.foreign.append(f"{self.page.url if self.page else '?'} -> {url}")
            route.abort()

    def visit(self, url: str):
        self.errors.clear()
        response = self.page.goto(url, wait_until="load")
        # MathJax typesets after the load event: wait for it, so that its errors are seen on this page
        self.page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
        return response


def _images(page) -> list[tuple[str, int, str]]:
    """``(src, naturalWidth, alt)`` of every image of the page, each loaded and decoded (lazy ones too)."""
    return page.evaluate("""async () => Promise.all([...document.images].map(async (img) => {
        img.loading = "eager";
        try { await img.decode(); } catch (e) {}
        return [img.getAttribute("src"), img.naturalWidth, img.getAttribute("alt") || ""];
    }))""")


SCREENSHOTS = {"index.html": "landing-en", "ko/index.html": "landing-ko",
               f"notebooks/{nbkit.notebooks()[0].stem}.html": "notebook-en",
               f"notebooks/ko/{nbkit.notebooks()[0].stem}.html": "notebook-ko"}


# Where RequireJS looks for each AMD module that embed-amd.js defines (each loads its fonts from that folder)
WIDGET_MODULES = """() => window.require && window.require.toUrl ? Object.fromEntries(
    ["@jupyter-widgets/html-manager/dist/libembed-amd", "@jupyter-widgets/html-manager", "@jupyter-widgets/base",
     "@jupyter-widgets/controls", "@jupyter-widgets/base7", "@jupyter-widgets/controls7"]
    .map(m => [m, new URL(window.require.toUrl(m), document.baseURI).href])) : {}"""


def _crawl(visitor: Visitor, base: str, shots: dict[str, str] | None = None) -> dict:
    """Every page reachable from ``base``/index.html, each visited once: its status, errors, ids, images, links,
    language switch and course map; screenshots of the pages ``shots`` names. Also the requests to other hosts."""
    todo, pages = [base + "index.html"], {}
    while todo:
        url = todo.pop()
        if url in pages:
            continue
        response = visitor.visit(url)
        page = visitor.page
        name = url.removeprefix(base)
        if page.locator("pre.mermaid").count():
            page.locator("pre.mermaid svg").first.wait_for(timeout=30_000)
        switch = page.locator("a.course-language-switch")
        info = {"status": response.status if response else None,
                "ids": set(page.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)")),
                "images": _images(page),
                "links": page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)"),
                "switch": [urljoin(url, switch.nth(i).get_attribute("href")) for i in range(switch.count())],
                "map_nodes": page.locator("pre.mermaid svg g.node").count(),
                "widget_modules": page.evaluate(WIDGET_MODULES),
                "lang": page.evaluate("document.documentElement.lang")}
        if shots and name in shots:
            page.screenshot(path=str(SHOTS / f"{shots[name]}.png"))
        info["errors"] = list(visitor.errors)
        pages[name] = info
        for link in info["links"]:
            target, _ = urldefrag(link)
            if target.startswith(base) and target.endswith(".html") and target.removeprefix(base) not in pages:
                todo.append(target)
    return {"pages": pages, "foreign": list(visitor.foreign), "base": base}


def page_problems(crawled: dict) -> list[str]:
    """Pages that did not load cleanly: a status other than 200, a console or page error, an image that did not
    load or has no alt text."""
    problems = []
    for name, info in crawled["pages"].items():
        if info["status"] != 200:
            problems.append(f"{name}: status {info['status']}")
        problems += [f"{name}: {error}" for error in info["errors"]]
        for src, width, alt in info["images"]:
            if width == 0:
                problems.append(f"{name}: the image {src} did not load")
            if not alt.strip() or alt.strip() == src or re.search(r"\.(png|svg|jpe?g)$", alt.strip()):
                problems.append(f"{name}: the image {src} has no alt text ({alt!r})")
    return problems


def link_problems(html: Path, crawled: dict) -> list[str]:
    """Links to a page of the site that does not exist, or to an anchor that the page does not have."""
    base, pages, problems = crawled["base"], crawled["pages"], []
    for name, info in pages.items():
        for link in info["links"]:
            target, anchor = urldefrag(link)
            if not target.startswith(base):
                continue
            path = html / unquote(urlparse(target).path).lstrip("/")
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                problems.append(f"{name}: a link to a missing page: {link}")
            elif anchor and anchor not in pages.get(target.removeprefix(base), {"ids": {anchor}})["ids"]:
                problems.append(f"{name}: a link to a missing anchor: {link}")
    return problems


@pytest.fixture(scope="module")
def crawl(built, served, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    return _crawl(Visitor(browser, served), served, SCREENSHOTS)


def test_the_site_builds_with_every_page(built):
    pages = {p.relative_to(built).as_posix() for p in built.rglob("*.html")}
    expected = {"index.html", "ko/index.html", "GLOSSARY.html", "search.html"}
    expected |= {f"notebooks/{p.stem}.html" for p in nbkit.notebooks()}
    expected |= {f"notebooks/ko/{p.stem}.html" for p in nbkit.notebooks(REPO / "notebooks" / "ko")}
    assert expected <= pages, f"missing: {sorted(expected - pages)}"
    vendored = {"mermaid/dist/mermaid.min.js", "mathjax/es5/tex-chtml.js", "requirejs/require.js",
                "jupyter-widgets-html-manager/dist/embed-amd.js"}
    assert all((built / "_static" / "vendor" / path).is_file() for path in vendored)


def test_no_request_leaves_the_site(crawl):
    assert not crawl["foreign"], "requests to another host (blocked):\n" + "\n".join(sorted(set(crawl["foreign"])))


def test_every_page_loads_cleanly_with_its_images(crawl):
    assert len(crawl["pages"]) >= 2 * len(nbkit.notebooks()) + 3, f"the crawl reached only {sorted(crawl['pages'])}"
    problems = page_problems(crawl)
    assert not problems, "\n".join(problems)


def test_widget_modules_load_their_fonts_from_the_vendored_folder(crawl):
    """Each widget module's fonts come from the folder RequireJS gives the module: it must be the vendored dist
    folder on every page with widgets. (Left next to the page, six font requests 404 on some loads, not others.)"""
    base, dist = crawl["base"], crawl["base"] + "_static/vendor/jupyter-widgets-html-manager/dist/"
    with_widgets = {name: info["widget_modules"] for name, info in crawl["pages"].items() if info["widget_modules"]}
    assert f"notebooks/{nbkit.notebooks()[1].stem}.html" in with_widgets, sorted(with_widgets)
    wrong = [f"{name}: {module} -> {url.removeprefix(base)}" for name, modules in with_widgets.items()
             for module, url in modules.items() if not url.startswith(dist)]
    assert not wrong, "\n".join(wrong)


def test_every_internal_link_and_anchor_resolves(built, crawl):
    problems = link_problems(built, crawl)
    assert not problems, "\n".join(problems)


def test_the_checks_find_planted_problems(tmp_path, browser):
    """A page with an image from another host, an image without alt text, a script error, a link to a missing
    page and one to a missing anchor: the crawl's checks name each."""
    from PIL import Image

    Image.new("RGB", (4, 4), "red").save(tmp_path / "dot.png")
    (tmp_path / "index.html").write_text(
        '<html><body><h1 id="top">t</h1><img src="https://example.org/x.png" alt="remote">'
        '<img src="dot.png"><a href="gone.html">x</a><a href="other.html#nowhere">y</a><a href="#top">z</a>'
        '<script>undefinedFunction()</script></body></html>')
    (tmp_path / "other.html").write_text('<html><body><p id="here">o</p></body></html>')
    httpd = site.server(tmp_path)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}/"
        crawled = _crawl(Visitor(browser, base), base)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert crawled["foreign"] == [f"{base}index.html -> https://example.org/x.png"]
    found = "\n".join(page_problems(crawled) + link_problems(tmp_path, crawled))
    for expected in ("the image https://example.org/x.png did not load", "the image dot.png has no alt text",
                     "undefinedFunction", "a link to a missing page: " + base + "gone.html",
                     "a link to a missing anchor: " + base + "other.html#nowhere"):
        assert expected in found, found
    assert "#top" not in found


def test_language_switch_leads_to_the_twin_and_back(crawl):
    base, pages = crawl["base"], crawl["pages"]
    pairs = [("index.html", "ko/index.html")] + [(f"notebooks/{p.stem}.html", f"notebooks/ko/{p.stem}.html")
                                                  for p in nbkit.notebooks()]
    for english, korean in pairs:
        assert pages[english]["switch"] == [base + korean], f"{english}: switch {pages[english]['switch']}"
        assert pages[korean]["switch"] == [base + english], f"{korean}: switch {pages[korean]['switch']}"
        assert (pages[english]["lang"], pages[korean]["lang"]) == ("en", "ko")


def test_launch_buttons_open_the_configured_repository(crawl):
    slug, ref = links.repository()
    for path in nbkit.notebooks() + nbkit.notebooks(REPO / "notebooks" / "ko"):
        in_repo = path.relative_to(REPO).as_posix()
        shown = crawl["pages"][in_repo.replace(".ipynb", ".html")]["links"]
        colab = [link for link in shown if link.startswith("https://colab.research.google.com/github/")]
        binder = [link for link in shown if link.startswith("https://mybinder.org/v2/")]
        assert links.colab_url(in_repo) in colab, f"{in_repo}: Colab links {colab}"
        assert any(link.startswith(f"https://mybinder.org/v2/gh/{slug}/{ref}?") and in_repo in unquote(link)
                   for link in binder), f"{in_repo}: Binder links {binder}"


def test_course_map_is_drawn_on_both_landing_pages(crawl):
    for name in ("index.html", "ko/index.html"):
        assert crawl["pages"][name]["map_nodes"] >= len(nbkit.notebooks()), \
            f"{name}: the course map should show every notebook as a node of the drawn SVG"
    assert all((SHOTS / f"{shot}.png").is_file() for shot in SCREENSHOTS.values())


@pytest.mark.parametrize("language", sorted(SEARCHES))
def test_search_finds_a_term_in_each_language(built, served, browser, language):
    term, expected = SEARCHES[language]
    visitor = Visitor(browser, served)
    visitor.visit(served + f"search.html?q={term}")
    results = visitor.page.locator("#search-results li a")
    results.first.wait_for(timeout=30_000)
    found = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any(expected in href for href in found), f"searching {term!r} found {found}"


def test_readme_links_the_site_of_the_configured_repository():
    slug, _ = links.repository()
    assert links.site_url(slug) in (REPO / "README.md").read_text(encoding="utf-8")


def test_a_korean_font_is_installed_for_the_browser():
    """Without one, Chromium draws the Korean pages as empty boxes (.ci/run installs fonts-nanum)."""
    fc_list = shutil.which("fc-list")
    listed = subprocess.run([fc_list, ":lang=ko"], capture_output=True, text=True) if fc_list else None
    if not (listed and listed.stdout.strip()):
        if BROWSER_REQUIRED:
            pytest.fail("CI_REQUIRE_BROWSER=1 but no Korean font is installed (apt-get install fonts-nanum)")
        pytest.skip("no Korean font (apt-get install fonts-nanum)")


def test_a_broken_link_fails_the_build(tmp_path, monkeypatch):
    """-W: a link to a notebook that does not exist stops the build, naming it."""
    original = site.stage

    def stage_with_a_broken_link(src):
        staged = original(src)
        index = src / "index.md"
        index.write_text(index.read_text() + "\n[a lost page](notebooks/99_missing.ipynb)\n")
        return staged

    monkeypatch.setattr(site, "stage", stage_with_a_broken_link)
    with pytest.raises(site.SiteError, match="99_missing"):
        site.build(tmp_path, log=print)


def test_the_site_tests_run_on_one_worker():
    """Under pytest -n 2, this file's tests are one unit of work: two workers would each rebuild artifacts/site
    and delete the pages the other is crawling (tools/nbval_colab.py)."""
    from tools.nbval_colab import scheduling_unit

    assert scheduling_unit("tests/test_site.py::test_no_request_leaves_the_site") == "tests/test_site.py"
    assert scheduling_unit("tests/test_browser.py::test_markdown_renders_in_jupyterlab") == "tests/test_browser.py"
    assert scheduling_unit("notebooks/03_first_cnn.ipynb::Cell 4") == "notebooks/03_first_cnn.ipynb"
    assert scheduling_unit("tests/test_train.py::test_fit") == "tests/test_train.py::test_fit"
