"""The course website: both editions of the notebooks as they are committed (with their recorded outputs, never
executed here), built with Sphinx, myst-nb and sphinx-book-theme.

    python -m tools.site build                  # -> artifacts/site/html (warnings are errors)
    python -m tools.site build --out DIR        # another folder (DIR/html)
    python -m tools.site serve                  # serve the built site on http://127.0.0.1:8000

What ``build`` does:

1. stages the pages in ``OUT/src`` with the repository's layout, so that the notebooks' relative links keep
   working: ``notebooks/NN_*.ipynb``, ``notebooks/ko/NN_*.ipynb``, ``GLOSSARY.md``, and the two landing pages
   ``index.md`` and ``ko/index.md``, each made of its README's course map (the ``mermaid`` block) and course
   table. Links to README.md / README.ko.md go to the landing pages, links to other files of the repository to
   their page on GitHub (the configured repository, pyproject.toml), and the Colab and Binder badge images
   are served from the site (:data:`BADGES`);
2. vendors the JavaScript the pages need (``site/vendor.json``: mermaid, MathJax, the Jupyter widget manager
   and RequireJS), from the npm registry with ``npm pack``, checked against the pinned integrity hashes and
   cached in ``~/.cache/course_utils/site-vendor``, so that a page loads nothing from another host;
3. runs ``sphinx-build -W`` with ``site/conf.py``: a broken link, a missing anchor or image, or a figure
   without alt text fails the build.

tests/test_site.py builds the site and checks it in Chromium.
"""
from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from functools import partial
from pathlib import Path

try:
    from tools import links, nbkit
    from tools.paths import REPO
except ModuleNotFoundError as error:  # run as a file, without the repository root on sys.path
    raise SystemExit(f"{error}: run this from the repository root as python -m tools.site") from None

SITE = REPO / "site"
OUT = REPO / "artifacts" / "site"
VENDOR = json.loads((SITE / "vendor.json").read_text())["packages"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "course_utils" / "site-vendor"
# The landing page of each edition: its README, the headings the page shows, the course table's marker.
EDITIONS = {
    "en": {"readme": "README.md", "page": "index.md", "map": "Course map", "table": "Notebooks",
           "marker": "course-table", "folder": "notebooks"},
    "ko": {"readme": "README.ko.md", "page": "ko/index.md", "map": "과정 지도", "table": "노트북",
           "marker": "course-table-ko", "folder": "notebooks/ko"},
}
# Badge images of other hosts, served from the site instead (a page loads nothing from another host).
BADGES = {"https://colab.research.google.com/assets/colab-badge.svg": "colab-badge.svg",
          "https://mybinder.org/badge_logo.svg": "binder-badge.svg"}
MERMAID = re.compile(r"^```mermaid\n(.*?)^```\n", re.S | re.M)
LINK = re.compile(r"(\]\()([^)\s]+)(\))")


class SiteError(RuntimeError):
    """The site cannot be built; the message says why and what to do."""


# -- staging --------------------------------------------------------------------------------------------

def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def rewrite_links(text: str, where: Path, staged: set[Path]) -> str:
    """``text`` (Markdown of the repository file ``where``, relative to the repository) with its links fitted to
    the site: READMEs -> the landing pages, staged pages kept, other repository files -> GitHub, badge images
    -> the site's copies."""
    slug, ref = links.repository()
    folder = where.parent

    def link(match):
        target = match.group(2)
        if target in BADGES:
            return match.group(1) + _relative(Path("_badges") / BADGES[target], folder) + match.group(3)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = Path(os.path.normpath(folder / path))
        if resolved.as_posix().startswith(".."):
            raise SiteError(f"{where}: the link {target} points outside the repository")
        anchor = f"#{anchor}" if anchor else ""
        readmes = {Path(e["readme"]): Path(e["page"]) for e in EDITIONS.values()}
        if resolved in readmes:
            return match.group(1) + _relative(readmes[resolved], folder) + anchor + match.group(3)
        if resolved in staged or resolved.as_posix() in ("notebooks", "notebooks/ko"):
            if resolved.as_posix() in ("notebooks", "notebooks/ko"):  # a folder: its edition's landing page
                page = Path("ko/index.md") if resolved.as_posix().endswith("ko") else Path("index.md")
                return match.group(1) + _relative(page, folder) + match.group(3)
            return match.group(0)
        if not (REPO / resolved).exists():
            raise SiteError(f"{where}: the link {target} points at {resolved}, which is not in the repository")
        kind = "tree" if (REPO / resolved).is_dir() else "blob"
        return f"{match.group(1)}https://github.com/{slug}/{kind}/{ref}/{resolved.as_posix()}{anchor}{match.group(3)}"

    return LINK.sub(link, text)


def mermaid_html(text: str) -> str:
    """Markdown with each ``mermaid`` block as the ``<pre class="mermaid">`` that the vendored mermaid draws."""
    def block(match):
        escaped = match.group(1).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f'<pre class="mermaid">\n{escaped}</pre>\n'
    return MERMAID.sub(block, text)


def landing_page(edition: str) -> str:
    """An edition's landing page: its README's title, course map and course table."""
    info = EDITIONS[edition]
    readme = (REPO / info["readme"]).read_text(encoding="utf-8")
    title = re.search(r"^# .+$", readme, re.M)
    graph = MERMAID.search(readme)
    table = re.search(rf"<!-- {info['marker']} -->\n(.*?)<!-- /{info['marker']} -->", readme, re.S)
    missing = [name for name, found in (("a '# title' line", title), ("a ```mermaid course map", graph),
                                        (f"the <!-- {info['marker']} --> table", table)) if not found]
    if missing:
        raise SiteError(f"{info['readme']} needs {', '.join(missing)}: the site's landing page shows them")
    notebooks = [p.relative_to(REPO / info["folder"]).with_suffix("").as_posix()
                 for p in nbkit.notebooks(REPO / info["folder"])]
    prefix = "notebooks/" if edition == "en" else "../notebooks/ko/"
    pages = notebooks + (["GLOSSARY"] if edition == "en" else [])
    toctree = "\n".join(f"{prefix}{name}" if name != "GLOSSARY" else name for name in pages)
    if edition == "en":
        toctree += "\nko/index"
    return (f"{title.group(0)}\n\n## {info['map']}\n\n{graph.group(0)}\n## {info['table']}\n\n{table.group(1)}\n"
            f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{toctree}\n```\n")


def stage(src: Path) -> list[Path]:
    """Write the site's pages into ``src`` (emptied first); return the staged files, relative to ``src``."""
    shutil.rmtree(src, ignore_errors=True)
    (src / "_badges").mkdir(parents=True)
    for name in BADGES.values():
        shutil.copy2(SITE / "_badges" / name, src / "_badges" / name)
    notebooks = nbkit.notebooks() + nbkit.notebooks(REPO / "notebooks" / "ko")
    staged = {p.relative_to(REPO) for p in notebooks} | {Path("GLOSSARY.md")}
    for path in notebooks:
        where = path.relative_to(REPO)
        nb = nbkit.read(path)
        for cell in nbkit.markdown_cells(nb):
            cell.source = mermaid_html(rewrite_links(nbkit.source(cell), where, staged))
        (src / where).parent.mkdir(parents=True, exist_ok=True)
        nbkit.write(nb, src / where)
    glossary = (REPO / "GLOSSARY.md").read_text(encoding="utf-8")
    (src / "GLOSSARY.md").write_text(rewrite_links(glossary, Path("GLOSSARY.md"), staged), encoding="utf-8")
    written = sorted(staged)
    for edition, info in EDITIONS.items():
        page = Path(info["page"])
        (src / page).parent.mkdir(parents=True, exist_ok=True)
        text = mermaid_html(rewrite_links(landing_page(edition), Path(info["readme"]), staged))
        if edition == "ko":  # the Korean landing page lives in ko/, its README in the root: links were made for it
            text = text.replace("](notebooks/ko/", "](../notebooks/ko/").replace("](_badges/", "](../_badges/")
        (src / page).write_text(text, encoding="utf-8")
        written.append(page)
    return written


# -- vendored JavaScript ----------------------------------------------------------------------------------

def _tarball(name: str, spec: dict) -> Path:
    """The npm tarball of ``name`` at its pinned version, fetched once with ``npm pack`` and checked."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"{name.replace('@', '').replace('/', '-')}-{spec['version']}.tgz"
    if not tarball.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise SiteError("npm is not installed: the site vendors its JavaScript from the npm registry "
                            "(apt-get install npm)")
        partial_dir = CACHE / f".partial-{os.getpid()}"
        partial_dir.mkdir(exist_ok=True)
        done = subprocess.run([npm, "pack", "--silent", f"{name}@{spec['version']}"], cwd=partial_dir,
                              capture_output=True, text=True)
        packed = list(partial_dir.glob("*.tgz"))
        if done.returncode or len(packed) != 1:
            raise SiteError(f"npm pack {name}@{spec['version']} failed: {done.stderr[-1000:]}")
        packed[0].replace(tarball)
        shutil.rmtree(partial_dir, ignore_errors=True)
    algorithm, expected = spec["integrity"].split("-", 1)
    digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        tarball.unlink()
        raise SiteError(f"{tarball.name} does not match the integrity pinned in site/vendor.json "
                        f"({spec['integrity']}); it was deleted: build again to fetch it afresh")
    return tarball


def vendor(static: Path) -> dict[str, list[str]]:
    """Copy the files site/vendor.json lists into ``static/vendor/<name>/``; return them by package."""
    copied = {}
    for name, spec in VENDOR.items():
        folder = static / "vendor" / name.lstrip("@").replace("/", "-")
        shutil.rmtree(folder, ignore_errors=True)
        copied[name] = []
        with tarfile.open(_tarball(name, spec)) as archive:
            members = {m.name.removeprefix("package/"): m for m in archive.getmembers() if m.isfile()}
            for pattern in spec["files"]:
                chosen = [n for n in members
                          if (n.startswith(pattern) if pattern.endswith("/") else fnmatch.fnmatch(n, pattern))]
                if not chosen:
                    raise SiteError(f"{name}@{spec['version']} has no {pattern} (site/vendor.json)")
                for member in chosen:
                    target = folder / member
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.extractfile(members[member]) as data:
                        target.write_bytes(data.read())
                    copied[name].append(member)
    return copied


# -- build ------------------------------------------------------------------------------------------------

def build(out: Path = OUT, log=print) -> Path:
    """Stage, vendor and build the site into ``out/html``; return that folder. Raises :class:`SiteError` with
    Sphinx's warnings when the build is not clean."""
    start = time.perf_counter()
    src, html = out / "src", out / "html"
    pages = stage(src)
    vendor(src / "_static")
    shutil.rmtree(html, ignore_errors=True)
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-c", str(SITE),
               "-d", str(out / "doctrees"), "-j", "1", str(src), str(html)]
    env = dict(os.environ, COURSE_SITE_VENDOR=str(src / "_static"))  # site/conf.py serves the vendored files
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
    if done.returncode:
        raise SiteError(f"sphinx-build failed (warnings are errors):\n{done.stderr[-6000:]}{done.stdout[-2000:]}")
    (html / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ and _images/ as they are
    log(f"built {len(pages)} pages into {html.relative_to(REPO) if html.is_relative_to(REPO) else html} "
        f"in {time.perf_counter() - start:.1f} s")
    return html


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def server(html: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A local HTTP server for the built site on 127.0.0.1 (``port`` 0: a free one); call ``serve_forever``."""
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(_QuietHandler, directory=str(html)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("build", "serve"))
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the staged sources and html/")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if args.what == "build":
        try:
            build(args.out)
        except SiteError as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    httpd = server(args.out / "html", args.port)
    print(f"serving {args.out / 'html'} on http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)")
    httpd.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
