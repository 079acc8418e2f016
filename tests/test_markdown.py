"""Markdown renders as Markdown in every front end: checked with a CommonMark parser (markdown-it-py, the
parser behind JupyterLab's and GitHub's behaviour for these cases).

CommonMark turns a line that starts with an HTML comment into a raw HTML block that runs to the end of the
line holding ``-->``: whatever Markdown follows the comment on that line (badges, a code span) is printed
as text. Comments must stand on lines of their own.

Bold and emphasis follow CommonMark's flanking rules: a closing ``**`` that follows punctuation (a code span's
backtick, %, a parenthesis) closes only if whitespace or punctuation comes next. Korean puts a particle right
after a word, so ``**58.53%**를`` and ``**`BatchSampler`**도`` print their asterisks; ``**58.53%를**`` renders.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt

from tools import nbkit
from tools.paths import REPO

COMMONMARK = MarkdownIt("commonmark")
COMMENT = re.compile(r"<!--.*?-->", re.S)


def swallowed_markdown(text: str) -> list[str]:
    """Raw HTML blocks that start with a comment and hold more than comments: Markdown printed as text."""
    found = []
    for token in COMMONMARK.parse(text):
        if token.type == "html_block" and token.content.lstrip().startswith("<!--"):
            rest = COMMENT.sub("", token.content).strip()
            if rest:
                line = token.map[0] + 1 if token.map else "?"
                found.append(f"line {line}: {token.content.strip()[:90]!r}")
    return found


def markdown_sources() -> list[tuple[str, str]]:
    """(where, Markdown text) for every markdown cell of every notebook (both editions) and every Markdown
    file a reader opens (the root's *.md and each folder's README.md)."""
    sources = []
    for path in nbkit.all_notebooks(REPO / "notebooks"):
        for index, cell in enumerate(nbkit.read(path).cells):
            if cell.cell_type == "markdown":
                sources.append((f"{path.relative_to(REPO)} cell {index}", nbkit.source(cell)))
    files = [*REPO.glob("*.md"), *REPO.glob("*/README.md")]
    for path in sorted(p for p in files if not p.relative_to(REPO).parts[0].startswith(".")):
        sources.append((str(path.relative_to(REPO)), path.read_text(encoding="utf-8")))
    return sources


def test_no_markdown_is_swallowed_by_a_raw_html_block():
    problems = [f"{where}, {problem}" for where, text in markdown_sources() for problem in swallowed_markdown(text)]
    assert not problems, (
        "A line starting with an HTML comment and going on with Markdown renders as raw text on GitHub, in "
        "JupyterLab and Colab. Put the comment on a line of its own:\n  " + "\n  ".join(problems))


@pytest.mark.parametrize("text, bad", [
    ("# Title\n\n<!-- badges -->[![Colab](a.svg)](b)<!-- /badges -->\n", True),  # the bug this test guards
    ("<!-- test-command -->`python -m pytest`\n", True),
    ("# Title\n\n<!-- badges -->\n[![Colab](a.svg)](b)\n<!-- /badges -->\n", False),
    ("# Title\n<!-- summary: what you learn -->\n\ntext\n", False),  # a comment alone on its line
    ("<details>\n<summary>Solution</summary>\n\ntext\n</details>\n", False),  # HTML that is meant as HTML
])
def test_the_check_finds_swallowed_markdown(text, bad):
    assert bool(swallowed_markdown(text)) is bad


def test_title_cells_render_their_badges_as_images():
    """What a reader sees in the title cell: two badge images, and no literal Markdown."""
    for path in nbkit.all_notebooks(REPO / "notebooks"):
        html = COMMONMARK.render(nbkit.header(nbkit.read(path)))
        assert html.count("<img ") == 2, f"{path.relative_to(REPO)}: the title cell should show 2 badge images"
        assert "[![" not in html, f"{path.relative_to(REPO)}: the title cell shows badge Markdown as text"


def test_readme_test_command_renders_as_code():
    html = COMMONMARK.render(Path(REPO / "README.md").read_text(encoding="utf-8"))
    assert re.search(r"<code>python -m pytest[^<]*</code>", html), "README's test command should render as code"


MATH = re.compile(r"\$[^$]*\$")


def unclosed_emphasis(text: str) -> list[str]:
    """Asterisks a CommonMark parser leaves as text: bold or emphasis that never opened or closed (math and code
    excluded), each with its line and the text around it."""
    found = []
    for token in COMMONMARK.parse(text):
        if token.type != "inline":
            continue
        if any(child.type == "text" and "*" in MATH.sub("", child.content) for child in token.children):
            line = token.map[0] + 1 if token.map else "?"
            star = token.content.find("*")
            found.append(f"line {line}: {token.content[max(0, star - 40):star + 50]!r}")
    return found


def test_bold_and_emphasis_render_in_both_editions():
    problems = [f"{where}, {problem}" for where, text in markdown_sources() for problem in unclosed_emphasis(text)]
    assert not problems, (
        "Bold or emphasis that CommonMark does not close, so readers see the asterisks. Bold that ends in "
        "punctuation (`code`, %, ')') must be followed by a space or punctuation: put a Korean particle inside "
        "the bold (**58.53%를**, **`torchrun`이**), see GLOSSARY.md rule 12:\n  " + "\n  ".join(problems))


@pytest.mark.parametrize("text, bad", [
    ("원본 글은 **58.53%**를 보고합니다.", True),  # issue 27: 04 cell 24
    ("인덱스를 리스트로 묶는 **`BatchSampler`**도 만듭니다.", True),  # issue 27: 08 cell 29
    ("Processes are started by **`torchrun`**which reads them.", True),
    ("*spawn*과 *`fork`*는 다릅니다.", True),
    ("원본 글은 **58.53%를** 보고합니다.", False),
    ("프로세스들은 **`torchrun`이** 실행합니다.", False),
    ("**실행 시간(측정값)**: smoke 모드 약 20초", False),
    ("**Runtime** (measured): smoke ~20 s.", False),
    ("The `x ** 2` term and $a*b$ are code and math.", False),
    ("| 층 | 출력 |\n| --- | --- |\n| **배치 정규화** | 64 |", False),
])
def test_the_check_finds_bold_that_does_not_render(text, bad):
    assert bool(unclosed_emphasis(text)) is bad


# -- links and commands in the Markdown files a reader follows ------------------------------------------------

def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (letters of any script kept), spaces as '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    tokens = COMMONMARK.parse(text)
    return {_slug(tokens[i + 1].content) for i, token in enumerate(tokens) if token.type == "heading_open"}


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    """Links of the Markdown file ``path`` to a file of the repository that does not exist, or to a heading that
    the linked file (or ``path`` itself) does not have."""
    found = []
    for token in COMMONMARK.parse(path.read_text(encoding="utf-8")):
        for child in token.children or []:
            href = child.attrs.get("href") if child.type == "link_open" else None
            if not href or re.match(r"[a-z]+:", href):  # http(s), mailto: not followed here
                continue
            target, _, anchor = unquote(href).partition("#")
            linked = (path.parent / target).resolve() if target else path
            if not linked.exists():
                found.append(f"{path.relative_to(root)}: {href}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
                found.append(f"{path.relative_to(root)}: {href}: no such heading")
    return found


@pytest.mark.parametrize("name", ["README.md", "README.ko.md", "CONTRIBUTING.md", "GLOSSARY.md",
                                  "benchmarks/README.md", "data/README.md"])
def test_links_between_the_documents_lead_somewhere(name):
    problems = broken_links(REPO / name)
    assert not problems, "\n".join(problems)


def test_the_link_check_finds_a_missing_file_and_heading(tmp_path):
    (tmp_path / "A.md").write_text("# Change the course\n\n## 예상 결과\n")
    (tmp_path / "B.md").write_text("[ok](A.md#change-the-course) [ko](A.md#예상-결과) [self](#b) "
                                   "[gone](A.md#set-up-and-test) [none](C.md) [web](https://example.org/x#y)\n\n# B\n")
    assert broken_links(tmp_path / "B.md", tmp_path) == ["B.md: A.md#set-up-and-test: no such heading",
                                               "B.md: C.md: no such file"]


COMMAND = re.compile(r"python -m ((?:tools|benchmarks)\.\w+)([^`\n]*)")


def command_problems(text: str) -> list[str]:
    """``python -m tools.X`` / ``benchmarks.X`` commands of ``text`` whose module does not exist or has no command
    line, or that name a subcommand or an option the module's source never mentions."""
    found = []
    for module, rest in COMMAND.findall(text):
        path = REPO / (module.replace(".", "/") + ".py")
        if not path.is_file():
            found.append(f"python -m {module}: no such module")
            continue
        source = path.read_text()
        if 'if __name__ == "__main__":' not in source:
            found.append(f"python -m {module}: {module} is not a command line (no __main__ block)")
            continue
        words = rest.split("#")[0].split()
        options = [w.split("=")[0] for w in words if w.startswith("--")]
        verb = words[0] if words and re.fullmatch(r"[a-z][a-z-]*", words[0]) else None
        found += [f"python -m {module}{rest}: {option} is not an option of {module}"
                  for option in options if f'"{option}"' not in source]
        if verb and f'"{verb}"' not in source:
            found.append(f"python -m {module}{rest}: {verb!r} is not a command of {module}")
    return found


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md", "benchmarks/README.md"])
def test_every_command_in_the_documents_exists(name):
    problems = command_problems((REPO / name).read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


def test_the_command_check_finds_a_wrong_command():
    assert command_problems("`python -m tools.site build --out DIR` and `python -m tools.sync_notebooks --check`") == []
    assert command_problems("`python -m tools.nbkit NOTEBOOK`") == [
        "python -m tools.nbkit: tools.nbkit is not a command line (no __main__ block)"]
    assert command_problems("`python -m tools.nope`") == ["python -m tools.nope: no such module"]
    assert command_problems("`python -m tools.translate --fix`") == [
        "python -m tools.translate --fix: --fix is not an option of tools.translate"]
    assert command_problems("`python -m tools.site deploy`") == [
        "python -m tools.site deploy: 'deploy' is not a command of tools.site"]


def test_contributing_names_paths_that_exist():
    """The paths CONTRIBUTING.md names (in code format) exist; placeholders (NN, <mode>) and the git-ignored
    artifacts/ aside."""
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    named = {span for span in re.findall(r"`([^`\s]+)`", text)
             if "/" in span and re.fullmatch(r"[\w./-]+", span) and "NN" not in span
             and not span.startswith(("artifacts/", "http"))}
    assert len(named) > 20, named
    assert sorted(p for p in named if not (REPO / p).exists()) == []
