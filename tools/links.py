"""Where the course is published, and every link and badge that points there: one place for all of them.

The repository URL and the branch or tag students open live in pyproject.toml (``[project.urls] Repository``,
``[tool.course] ref``); :func:`repository` reads them, and everything else here is made from it: the Colab and
Binder links and badges of each notebook, the Colab setup cell that installs course_utils, the course website's
address. ``python -m tools.sync_notebooks`` writes them into the notebooks and READMEs
(``--repository URL`` points them all at a fork).

A leaf module: it imports nothing from this repository but :mod:`tools.paths`.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tools.paths import REPO

SETUP_MARKER = "# Colab setup"  # the first line of every notebook's Colab setup cell (setup_cell_source)
BADGES = re.compile(r"<!-- badges -->.*?<!-- /badges -->", re.S)  # where a title cell's badges go
# GitHub repositories other than the course that README.md and the notebooks may link to. Every other
# GitHub, Colab or Binder link must point at the configured repository (tests/test_launch.py).
THIRD_PARTY_REPOSITORIES = ("KellerJordan/cifar10-airbench", "zalandoresearch/fashion-mnist")


def repository(root: Path = REPO) -> tuple[str, str]:
    """``(owner/name, ref)`` the course is published from: pyproject.toml's ``[project.urls] Repository``
    (a GitHub URL) and ``[tool.course] ref``. Badges, Colab setup cells and README links follow it."""
    config = tomllib.loads((Path(root) / "pyproject.toml").read_text())
    url = config["project"]["urls"]["Repository"].rstrip("/")
    match = re.fullmatch(r"https://github\.com/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?", url)
    if not match:
        raise ValueError(f"pyproject.toml: [project.urls] Repository must be https://github.com/OWNER/NAME, "
                         f"not {url!r}")
    return match.group(1), config.get("tool", {}).get("course", {}).get("ref", "main")


def site_url(slug: str) -> str:
    """Where GitHub Pages publishes the course website of repository ``slug`` (.github/workflows/pages.yml)."""
    owner, name = slug.split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


def setup_cell_source(root: Path = REPO) -> str:
    """The Colab setup cell: on Colab, install course_utils from the configured repository and ref."""
    slug, ref = repository(root)
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


def _in_repository(notebook: str) -> str:
    """``notebooks/NAME`` for a bare file name; a path inside the repository as it is."""
    return notebook if "/" in notebook else f"notebooks/{notebook}"


def colab_url(notebook: str, root: Path = REPO) -> str:
    slug, ref = repository(root)
    return f"https://colab.research.google.com/github/{slug}/blob/{ref}/{_in_repository(notebook)}"


def binder_url(notebook: str, root: Path = REPO) -> str:
    slug, ref = repository(root)
    return f"https://mybinder.org/v2/gh/{slug}/{ref}?labpath={_in_repository(notebook).replace('/', '%2F')}"


def launch_badges(notebook: str, root: Path = REPO) -> str:
    """The Colab and Binder badges of ``notebook`` on one line (README's course tables)."""
    colab, binder = colab_url(notebook, root), binder_url(notebook, root)
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder})")


def badges(notebook: str, root: Path = REPO) -> str:
    """The Colab and Binder badges between their markers, each marker on a line of its own: a line that starts
    with an HTML comment and goes on with Markdown is a raw HTML block in CommonMark, and GitHub, JupyterLab,
    Colab and nbviewer would print the badges' Markdown as text (tests/test_markdown.py)."""
    return f"<!-- badges -->\n{launch_badges(notebook, root)}\n<!-- /badges -->"
