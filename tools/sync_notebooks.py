"""Keep the notebooks consistent: one Colab setup cell, badges, and clean outputs.

    python tools/sync_notebooks.py            # rewrite setup cells and badges from pyproject.toml
    python tools/sync_notebooks.py --check    # exit 1 if any notebook is out of date (used by the tests)
    python tools/sync_notebooks.py --refresh-outputs notebooks/03_first_cnn.ipynb
        # run the notebook in smoke mode, keep only the outputs of `# NBVAL_CHECK_OUTPUT` cells

The repository URL and ref live in one place, pyproject.toml ([project.urls] Repository and
[tool.course] ref).
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import tomllib
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
SETUP_MARKER = "# Colab setup"
BADGES = re.compile(r"<!-- badges -->.*?<!-- /badges -->", re.S)


def repository() -> tuple[str, str]:
    """(``owner/name``, ref) from pyproject.toml."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    url = config["project"]["urls"]["Repository"].rstrip("/")
    slug = url.removeprefix("https://github.com/")
    return slug, config.get("tool", {}).get("course", {}).get("ref", "main")


def setup_cell_source() -> str:
    slug, ref = repository()
    return (
        f"{SETUP_MARKER}: on Google Colab, install course_utils (this course's helper package) from the\n"
        "# repository. Colab's own torch and torchvision are kept. Locally, on Binder and in CI, course_utils\n"
        "# is already installed and this cell does nothing.\n"
        "import importlib.util\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules and importlib.util.find_spec("course_utils") is None:\n'
        f'    %pip install --quiet "course_utils @ git+https://github.com/{slug}@{ref}"'
    )


def colab_url(notebook: str) -> str:
    slug, ref = repository()
    return f"https://colab.research.google.com/github/{slug}/blob/{ref}/notebooks/{notebook}"


def binder_url(notebook: str) -> str:
    slug, ref = repository()
    return f"https://mybinder.org/v2/gh/{slug}/{ref}?labpath=notebooks%2F{notebook}"


def badges(notebook: str) -> str:
    return (
        "<!-- badges -->"
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)}) "
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook)})"
        "<!-- /badges -->"
    )


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def sync(path: Path) -> bool:
    """Update one notebook in place; return True if it changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    header = nb.cells[0]
    if not BADGES.search(_source(header)):
        raise SystemExit(f"{path}: the first cell needs a '<!-- badges --><!-- /badges -->' placeholder")
    header.source = BADGES.sub(lambda _: badges(path.name), _source(header))
    setup = [c for c in nb.cells if c.cell_type == "code" and _source(c).startswith(SETUP_MARKER)]
    if len(setup) != 1:
        raise SystemExit(f"{path}: expected one code cell starting with {SETUP_MARKER!r}, found {len(setup)}")
    setup[0].source = setup_cell_source()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata.pop("jupytext", None)
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after + ("" if after.endswith("\n") else "\n"))
    return after != before


def refresh_outputs(path: Path) -> None:
    """Execute in smoke mode; keep outputs only in `# NBVAL_CHECK_OUTPUT` cells."""
    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / path.name
        papermill.execute_notebook(str(path), str(executed), parameters={"RUN_MODE": "smoke"},
                                   cwd=str(path.parent), kernel_name="python3", progress_bar=False)
        ran = nbformat.read(executed, as_version=4)
    nb = nbformat.read(path, as_version=4)
    ran_by_id = {c.get("id"): c for c in ran.cells}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "NBVAL_CHECK_OUTPUT" in _source(cell) and cell.get("id") in ran_by_id:
            # nbval treats a cell without an execution count as "unrun": keep the counts.
            cell.outputs = ran_by_id[cell.id].outputs
            cell.execution_count = ran_by_id[cell.id].execution_count
        else:
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report notebooks that are out of date")
    parser.add_argument("--refresh-outputs", nargs="+", type=Path, metavar="NOTEBOOK")
    args = parser.parse_args(argv)
    if args.refresh_outputs:
        for path in args.refresh_outputs:
            refresh_outputs(path)
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    stale = []
    for path in notebooks:
        if args.check:
            original = path.read_text()
            changed = sync(path)
            if changed:
                path.write_text(original)
                stale.append(path.name)
        else:
            sync(path)
    if stale:
        print("Out of date (run python tools/sync_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
