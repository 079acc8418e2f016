"""Render what the notebooks and READMEs show but do not own, from the one place each fact lives.

    python -m tools.sync_notebooks            # render everything below
    python -m tools.sync_notebooks --check    # exit 1 and name what is out of date (the tests run this)
    python -m tools.sync_notebooks --repository https://github.com/OWNER/NAME [--ref BRANCH]
        # an instructor's fork: point pyproject.toml at it, then re-render every link (see README.md)
    python -m tools.sync_notebooks --refresh-outputs notebooks/03_first_cnn.ipynb
        # run the notebook in smoke mode, keep only the outputs of `# NBVAL_CHECK_OUTPUT` cells

What is rendered, and from where (this module only puts the pieces in place; each piece has its module):

- each notebook's Colab setup cell and its Colab and Binder badges (``<!-- badges -->`` ... ``<!-- /badges -->``
  in the first cell): from the repository URL and ref in pyproject.toml (``[project.urls] Repository``,
  ``[tool.course] ref``), by tools/links.py;
- each notebook's ``**Runtime** (measured):`` line (first cell): from the measurements in
  ``benchmarks/results/notebook_resources_<mode>.json`` (``python -m benchmarks.notebook_resources``), by
  tools/runtimes.py;
- the tables of README.md and README.ko.md (course table, results table, GPU targets): by tools/readme_table.py;
- the Korean edition, notebooks/ko/ (English code cells, translated markdown, Korean runtime lines): by
  tools/translate.py, which this command runs after the English notebooks are rendered (:func:`render_all`).
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

try:
    from tools import execute, links, nbkit, readme_table, runtimes, translate, verified
    from tools.links import BADGES, SETUP_MARKER
    from tools.paths import REPO
    from tools.runtimes import RUNTIME_LINE
except ModuleNotFoundError as error:  # run as a file, without the repository root on sys.path
    raise SystemExit(f"{error}: run this from the repository root as python -m tools.sync_notebooks") from None


def render_header(path: Path, header: str, root: Path = REPO, outputs_mode: str | None = None) -> str:
    """The first cell of notebook ``path`` with its badges and runtime line rendered (``outputs_mode``: the mode
    of the run whose outputs it carries, named on the runtime line)."""
    if not BADGES.search(header):
        raise SystemExit(f"{path}: the first cell needs a '<!-- badges --><!-- /badges -->' placeholder")
    if not RUNTIME_LINE.search(header):
        raise SystemExit(f"{path}: the first cell needs a line starting with '**Runtime** (measured):' "
                         "(its text is rendered from benchmarks/results)")
    header = BADGES.sub(lambda _: links.badges(path.name, root), header)
    results = root / "benchmarks" / "results"
    line = runtimes.runtime_line(path.stem, results, outputs_mode)
    line = " ".join(filter(None, [line, verified.sentence(path.stem, results)]))  # when, with which torch
    return RUNTIME_LINE.sub(lambda _: line, header, count=1)


def render(path: Path, root: Path = REPO):
    """Notebook ``path`` as it should be: header, setup cell and kernel metadata rendered."""
    nb = nbkit.read(path)
    mode = ((nb.metadata.get("course") or {}).get("outputs") or {}).get("mode")  # benchmarks/recorded_outputs.py
    nb.cells[0].source = render_header(path, nbkit.header(nb), root, mode)
    setup = nbkit.setup_cells(nb)
    if len(setup) != 1:
        raise SystemExit(f"{path}: expected one code cell starting with {SETUP_MARKER!r}, found {len(setup)}")
    setup[0].source = links.setup_cell_source(root)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata.pop("jupytext", None)
    return nb


def sync(path: Path, root: Path = REPO) -> bool:
    """Render one notebook in place; return True if it changed."""
    return nbkit.write(render(path, root), path)


# The READMEs with rendered tables: the English one, the Korean one (its tables list notebooks/ko/ and are
# written in Korean), and the benchmarks' (the GPU targets).
READMES = (("README.md", readme_table.render), ("README.ko.md", readme_table.render_korean),
           ("benchmarks/README.md", readme_table.render_benchmarks))


def stale(root: Path = REPO) -> list[str]:
    """What is out of date (notebooks by name, README.md), without changing anything."""
    found = []
    for path in nbkit.notebooks(root / "notebooks"):
        if path.read_text() != nbkit.text(render(path, root)):
            found.append(path.name)
    for name, render_readme in READMES:
        readme = root / name
        if readme.is_file() and readme.read_text() != render_readme(readme.read_text(), root):
            found.append(name)
    return found


def render_all(changed: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Render everything in this checkout: the English notebooks and the READMEs (:func:`sync_all`), then the
    Korean edition, which copies the English code cells, outputs and runtimes (tools/translate.py), then the
    READMEs again if a Korean notebook changed (README.ko.md shows their titles and summaries). Returns
    (what changed, added to ``changed``; the Korean notebooks not regenerated because a translation is stale)."""
    changed = list(changed or [])
    changed += [name for name in sync_all() if name not in changed]
    written, failed = translate.regenerate()
    changed += [f"{translate.LANG}/{name}" for name in written]
    if written:
        changed += [name for name in render_readmes() if name not in changed]
    return changed, failed


def sync_all(root: Path = REPO) -> list[str]:
    """Render every numbered notebook and README.md; return what changed."""
    changed = [path.name for path in nbkit.notebooks(root / "notebooks") if sync(path, root)]
    return changed + render_readmes(root)


def render_readmes(root: Path = REPO) -> list[str]:
    """Render the READMEs' tables; return the names of the READMEs that changed."""
    changed = []
    for name, render_readme in READMES:
        readme = root / name
        if not readme.is_file():
            continue
        text = readme.read_text()
        rendered = render_readme(text, root)
        if rendered != text:
            readme.write_text(rendered)
            changed.append(name)
    return changed


def linked_files(root: Path = REPO) -> list[Path]:
    """The files whose links must follow the configured repository: Markdown files and every notebook."""
    markdown = [p for p in [*root.glob("*.md"), *root.glob("*/README.md")]
                if p.is_file() and not p.relative_to(root).parts[0].startswith(".")]
    return sorted(markdown) + nbkit.all_notebooks(root / "notebooks")


LINK = re.compile(r"(?:https://colab\.research\.google\.com/github/|https://mybinder\.org/v2/gh/|"
                  r"https://github\.com/|https://raw\.githubusercontent\.com/)([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)")


def foreign_links(root: Path = REPO) -> list[str]:
    """GitHub, Colab and Binder links to a repository that is neither the configured one nor a listed
    third-party one, as ``file: url``."""
    slug, ref = links.repository(root)
    found = []
    for path in linked_files(root):
        text = path.read_text()
        for match in LINK.finditer(text):
            linked = match.group(1).removesuffix(".git")
            if linked == slug or (linked in links.THIRD_PARTY_REPOSITORIES and "github.com/" in match.group(0)):
                continue
            found.append(f"{path.relative_to(root)}: {match.group(0)}")
        for url in re.findall(r"https://colab\.research\.google\.com/github/[^\s)\"'\\]+|"
                              r"https://mybinder\.org/v2/gh/[^\s)\"'\\]+|git\+https://github\.com/[^\s)\"'\\]+", text):
            if not (f"{slug}/blob/{ref}/" in url or f"gh/{slug}/{ref}?" in url or url.endswith(f"{slug}@{ref}")):
                found.append(f"{path.relative_to(root)}: {url} (not at ref {ref})")
    return found


def set_repository(url: str, ref: str | None = None, root: Path = REPO) -> list[str]:
    """Point the course at ``url`` (and ``ref``): rewrite pyproject.toml, replace the old repository's
    links in README.md, the other Markdown files and every notebook, then render. Returns changed files."""
    old_slug, old_ref = links.repository(root)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    new = re.sub(r'(?m)^(Repository\s*=\s*)"[^"]*"', lambda m: f'{m.group(1)}"{url.rstrip("/")}"', text, count=1)
    if ref is not None:
        new, count = re.subn(r'(?m)^(ref\s*=\s*)"[^"]*"', lambda m: f'{m.group(1)}"{ref}"', new, count=1)
        if not count:
            raise SystemExit("pyproject.toml has no [tool.course] ref = \"...\" line")
    pyproject.write_text(new)
    try:
        slug, new_ref = links.repository(root)
    except ValueError as error:
        pyproject.write_text(text)
        raise SystemExit(str(error)) from None
    replacements = [
        (f"colab.research.google.com/github/{old_slug}/blob/{old_ref}/",
         f"colab.research.google.com/github/{slug}/blob/{new_ref}/"),
        (f"mybinder.org/v2/gh/{old_slug}/{old_ref}?", f"mybinder.org/v2/gh/{slug}/{new_ref}?"),
        (f"github.com/{old_slug}@{old_ref}", f"github.com/{slug}@{new_ref}"),
        (f"github.com/{old_slug}", f"github.com/{slug}"),
        (f"raw.githubusercontent.com/{old_slug}/", f"raw.githubusercontent.com/{slug}/"),
        (links.site_url(old_slug), links.site_url(slug)),  # the course website (GitHub Pages)
    ]
    changed = ["pyproject.toml"] if new != text else []
    for path in linked_files(root):
        before = path.read_text()
        after = before
        for old, replacement in replacements:
            after = after.replace(old, replacement)
        if after != before:
            path.write_text(after)
            changed.append(str(path.relative_to(root)))
    changed += [c for c in sync_all(root) if c not in changed]
    return changed


def refresh_outputs(path: Path) -> None:
    """Execute in smoke mode; write the outputs of the `# NBVAL_CHECK_OUTPUT` cells. The other cells are cleared,
    unless the notebook carries a recorded run's outputs (benchmarks/recorded_outputs.py): those stay as they
    are (the test of recorded outputs says when they are stale)."""
    with tempfile.TemporaryDirectory() as tmp:
        ran = execute.execute(path, Path(tmp) / path.name, {"RUN_MODE": "smoke"})
    nb = nbkit.read(path)
    recorded = bool(((nb.metadata.get("course") or {}).get("outputs") or {}).get("mode"))
    ran_by_id = {c.get("id"): c for c in ran.cells}
    for cell in nbkit.code_cells(nb):
        if nbkit.CHECKED_OUTPUT in nbkit.source(cell) and cell.get("id") in ran_by_id:
            # keep the execution counts, so the committed cell looks like a run cell (as nbval expects too).
            cell.outputs = ran_by_id[cell.id].outputs
            cell.execution_count = cell.execution_count if recorded else ran_by_id[cell.id].execution_count
        elif not recorded:
            cell.outputs, cell.execution_count = [], None
    nbkit.write(nb, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report what is out of date")
    parser.add_argument("--repository", metavar="URL", help="https://github.com/OWNER/NAME of a fork to point at")
    parser.add_argument("--ref", help="with --repository: the branch or tag Colab and Binder open (default: kept)")
    parser.add_argument("--refresh-outputs", nargs="+", type=Path, metavar="NOTEBOOK")
    args = parser.parse_args(argv)
    if args.ref and not args.repository:
        parser.error("--ref goes with --repository")
    if args.check:
        found = stale()
        if found:
            print("Out of date (run python -m tools.sync_notebooks):", ", ".join(found))
            return 1
        return 0
    if args.refresh_outputs:
        for path in args.refresh_outputs:
            refresh_outputs(path)
    changed = set_repository(args.repository, args.ref) if args.repository else []
    changed, failed = render_all(changed)
    print("updated: " + ", ".join(changed) if changed else "everything was up to date")
    if failed:
        print(f"Korean edition not regenerated for {len(failed)} notebook(s) whose translation is stale: "
              "see python -m tools.translate --check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
