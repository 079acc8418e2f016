"""The course website (tools/site.py), built from the committed notebooks and checked in Chromium as a reader
meets it: every page over http://127.0.0.1, with any request to another host blocked and listed.

Uses Debian's Chromium and Playwright, as tests/test_browser.py does (skipped without them unless
``CI_REQUIRE_BROWSER=1``). Screenshots of the landing page and of a notebook page in each language are saved
in artifacts/site-screenshots/.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

from tools import nbkit, site, sync_notebooks

REPO = nbkit.REPO
OUT = REPO / "artifacts" / "site"
SHOTS = REPO / "artifacts" / "site-screenshots"
CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("CI_REQUIRE_BROWSER") == "1"
SEARCHES = {"en": ("DataLoader", "notebooks/01_"), "ko": ("데이터셋과", "notebooks/ko/01_")}


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set COURSE_CHROMIUM)"
    return None


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
    missing = _missing_browser()
    if missing:
        if REQUIRED:
            pytest.fail(f"CI_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
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


def _crawl(visitor: Visitor, html: Path) -> dict[str, dict]:
    """Every page reachable from the landing page: its status, problems, links, ids and images."""
    base = visitor.base
    todo, pages = [base + "index.html"], {}
    while todo:
        url = todo.pop()
        if url in pages:
            continue
        response = visitor.visit(url)
        page = visitor.page
        info = {"status": response.status if response else None, "errors": list(visitor.errors),
                "ids": set(page.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)")),
                "images": _images(page),
                "links": page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")}
        info["errors"] += visitor.errors[len(info["errors"]):]
        pages[url] = info
        for link in info["links"]:
            target, _ = urldefrag(link)
            if target.startswith(base) and target.endswith(".html") and target not in pages:
                todo.append(target)
    return pages


def test_the_site_builds_with_every_page(built):
    pages = {p.relative_to(built).as_posix() for p in built.rglob("*.html")}
    expected = {"index.html", "ko/index.html", "GLOSSARY.html", "search.html"}
    expected |= {f"notebooks/{p.stem}.html" for p in nbkit.notebooks()}
    expected |= {f"notebooks/ko/{p.stem}.html" for p in nbkit.notebooks(REPO / "notebooks" / "ko")}
    assert expected <= pages, f"missing: {sorted(expected - pages)}"
    vendored = {"mermaid/dist/mermaid.min.js", "mathjax/es5/tex-chtml.js", "requirejs/require.js",
                "jupyter-widgets-html-manager/dist/embed-amd.js"}
    assert all((built / "_static" / "vendor" / path).is_file() for path in vendored)


def test_every_page_as_a_reader_sees_it(built, served, browser):
    visitor = Visitor(browser, served)
    pages = _crawl(visitor, built)
    assert len(pages) >= 2 * len(nbkit.notebooks()) + 3, f"the crawl reached only {sorted(pages)}"
    problems = []
    for url, info in pages.items():
        name = url.removeprefix(served)
        if info["status"] != 200:
            problems.append(f"{name}: status {info['status']}")
        problems += [f"{name}: {error}" for error in info["errors"]]
        for src, width, alt in info["images"]:
            if width == 0:
                problems.append(f"{name}: the image {src} did not load")
            if not alt.strip() or alt.strip() == src or re.search(r"\.(png|svg|jpe?g)$", alt.strip()):
                problems.append(f"{name}: the image {src} has no alt text ({alt!r})")
        for link in info["links"]:
            target, anchor = urldefrag(link)
            if not target.startswith(served):
                continue
            path = built / unquote(urlparse(target).path).lstrip("/")
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                problems.append(f"{name}: a link to a missing page: {link}")
            elif anchor and target in pages and anchor not in pages[target]["ids"]:
                problems.append(f"{name}: a link to a missing anchor: {link}")
    assert not visitor.foreign, "requests to another host (blocked):\n" + "\n".join(sorted(set(visitor.foreign)))
    assert not problems, "\n".join(problems)


def test_language_switch_leads_to_the_twin_and_back(built, served, browser):
    visitor = Visitor(browser, served)
    pairs = [("index.html", "ko/index.html")] + [(f"notebooks/{p.stem}.html", f"notebooks/ko/{p.stem}.html")
                                                  for p in nbkit.notebooks()]
    for english, korean in pairs:
        for here, there in ((english, korean), (korean, english)):
            visitor.visit(served + here)
            switch = visitor.page.locator("a.course-language-switch")
            assert switch.count() == 1, f"{here}: no language switch"
            assert urljoin(served + here, switch.get_attribute("href")) == served + there, here
    assert visitor.page.evaluate("document.documentElement.lang") in ("en", "ko")


def test_launch_buttons_open_the_configured_repository(built, served, browser):
    slug, ref = sync_notebooks.repository()
    visitor = Visitor(browser, served)
    for path in nbkit.notebooks() + nbkit.notebooks(REPO / "notebooks" / "ko"):
        in_repo = path.relative_to(REPO).as_posix()
        visitor.visit(served + in_repo.replace(".ipynb", ".html"))
        links = visitor.page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
        colab = [link for link in links if link.startswith("https://colab.research.google.com/github/")]
        binder = [link for link in links if link.startswith("https://mybinder.org/v2/")]
        assert sync_notebooks.colab_url(in_repo) in colab, f"{in_repo}: Colab links {colab}"
        assert any(link.startswith(f"https://mybinder.org/v2/gh/{slug}/{ref}?") and in_repo in unquote(link)
                   for link in binder), f"{in_repo}: Binder links {binder}"


def test_course_map_is_drawn_and_screenshots(built, served, browser):
    visitor = Visitor(browser, served)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, url in (("landing-en", "index.html"), ("landing-ko", "ko/index.html")):
        visitor.visit(served + url)
        visitor.page.locator("pre.mermaid svg").first.wait_for(timeout=30_000)
        assert visitor.page.locator("pre.mermaid svg g.node").count() >= len(nbkit.notebooks()), \
            f"{url}: the course map should show every notebook"
        visitor.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)
    first = nbkit.notebooks()[0].stem
    for name, url in (("notebook-en", f"notebooks/{first}.html"), ("notebook-ko", f"notebooks/ko/{first}.html")):
        visitor.visit(served + url)
        visitor.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)
    assert not visitor.foreign, visitor.foreign


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
    slug, _ = sync_notebooks.repository()
    assert sync_notebooks.site_url(slug) in (REPO / "README.md").read_text(encoding="utf-8")


def test_a_korean_font_is_installed_for_the_browser():
    """Without one, Chromium draws the Korean pages as empty boxes (.ci/run installs fonts-nanum)."""
    fc_list = shutil.which("fc-list")
    listed = subprocess.run([fc_list, ":lang=ko"], capture_output=True, text=True) if fc_list else None
    if not (listed and listed.stdout.strip()):
        if REQUIRED:
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
