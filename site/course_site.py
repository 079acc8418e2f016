"""The course website's Sphinx extension (site/conf.py): the language switch, figures' alt text, mermaid."""
from __future__ import annotations

import re

from docutils import nodes
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
TITLE = re.compile(r"""(?:suptitle|set_title|title)\(\s*f?(["'])(.+?)\1""")


def twin(pagename: str) -> tuple[str, str] | None:
    """The page of the other edition and its language: a notebook and its translation, the two landing pages."""
    if pagename == "index":
        return "ko/index", "ko"
    if pagename == "ko/index":
        return "index", "en"
    if match := re.fullmatch(r"notebooks/ko/(\d\d_\w+)", pagename):
        return f"notebooks/{match.group(1)}", "en"
    if match := re.fullmatch(r"notebooks/(\d\d_\w+)", pagename):
        return f"notebooks/ko/{match.group(1)}", "ko"
    return None


def language(pagename: str) -> str:
    return "ko" if pagename.startswith(("ko/", "notebooks/ko/")) else "en"


def figure_alt(code: str, number: int) -> str:
    """Alt text for a figure a code cell drew: the title the code gives it, else the cell's first comment."""
    titles = [re.sub(r"\{[^{}]*\}", "…", match.group(2)) for match in TITLE.finditer(code)]  # f-string fields
    if titles:
        return "Figure: " + "; ".join(dict.fromkeys(titles))
    comment = next((line.lstrip("# ").strip() for line in code.splitlines()
                    if line.startswith("#") and not line.startswith("# NBVAL")), "")
    return f"Figure {number}" + (f": {comment}" if comment else " drawn by the code above")


def add_alt_text(app, doctree) -> None:
    """Every figure of a notebook's outputs gets alt text from the code that drew it; any other image without
    alt text is a warning (an error with -W)."""
    number = 0
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code":
            continue
        code = "".join(block.astext() for block in cell.findall(nodes.literal_block)
                       if block.parent.get("nb_element") == "cell_code_source")
        for image in cell.findall(nodes.image):
            number += 1
            if not image.get("alt"):
                image["alt"] = figure_alt(code, number)
    for image in doctree.findall(nodes.image):
        if not image.get("alt"):
            LOGGER.warning(f"an image without alt text: {image.get('uri')}", location=image)


def page_context(app, pagename, templatename, context, doctree) -> None:
    found = twin(pagename)
    context["language"] = language(pagename)
    context["course_twin_url"] = None
    if found and found[0] in app.env.all_docs:
        page, lang = found
        context["course_twin_url"] = app.builder.get_relative_uri(pagename, page)
        context["course_twin_lang"] = lang
        context["course_twin_label"] = "한국어" if lang == "ko" else "English"
        context["course_twin_title"] = "이 페이지의 한국어판" if lang == "ko" else "This page in English"
    if doctree is not None and any("mermaid" in node.get("classes", []) or 'class="mermaid"' in node.astext()
                                   for node in doctree.findall(nodes.raw)):
        app.add_js_file(app.config.MERMAID_JS)


def setup(app):
    app.add_config_value("MERMAID_JS", "", "html")
    app.connect("doctree-read", add_alt_text)
    app.connect("html-page-context", page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
