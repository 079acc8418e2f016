"""Sphinx configuration of the course website (built by ``python -m tools.site build``, which stages the pages
and vendors the JavaScript; see tools/site.py). The notebooks are shown with the outputs they were committed
with: myst-nb never executes them."""
from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from tools import links  # noqa: E402  (the repository root is on sys.path from here on)

slug, ref = links.repository(REPO)

project = "PyTorch deep learning, from CIFAR-10 to ResNet"
author = "the course's authors"
copyright = "the course's authors (MIT license)"
extensions = ["myst_nb", "course_site"]
templates_path = ["_templates"]
exclude_patterns = ["_badges/*"]
html_theme = "sphinx_book_theme"
html_title = "PyTorch deep learning course"
html_static_path = ["_static", os.environ.get("COURSE_SITE_VENDOR", str(HERE / "_static"))]
html_css_files = ["course.css"]
html_js_files = ["course.js"]
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "repository_url": f"https://github.com/{slug}",
    "repository_branch": ref,
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": False,
    "launch_buttons": {"colab_url": "https://colab.research.google.com", "binderhub_url": "https://mybinder.org",
                       "notebook_interface": "jupyterlab"},
    "article_header_start": ["toggle-primary-sidebar.html", "language-switch.html"],
    "show_toc_level": 2,
}

# MyST and myst-nb: the notebooks as committed, never executed; math written as $...$.
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = "off"
nb_merge_streams = True
# The JavaScript pages need, vendored (tools/site.py, site/vendor.json): nothing is loaded from another host.
mathjax_path = "vendor/mathjax/es5/tex-chtml.js"
mathjax3_config = {"options": {"enableMenu": False}}
nb_ipywidgets_js = {  # in this order; a widget module that is not bundled would come from a CDN (and fail the tests)
    "vendor/requirejs/require.js": {},
    "widgets-config.js": {},
    "vendor/jupyter-widgets-html-manager/dist/embed-amd.js": {},
}
MERMAID_JS = "vendor/mermaid/dist/mermaid.min.js"
html_context = {"default_mode": "light"}  # the theme's colour mode, set (the theme logs an error when it is unset)
# cu.show_results attaches its numbers as application/vnd.course-results+json next to the Markdown table the page
# shows; myst-nb warns about every mime type it cannot draw, even beside one it draws. An output with nothing
# to draw is still an error (mystnb.mime_priority).
suppress_warnings = ["mystnb.unknown_mime_type"]
