"""The course says only what it measured, and every notebook follows the course's conventions.

Typed-in results: a number that a run produces (an accuracy, a time, a speed-up, a memory size) must be
printed by the code that computed it, never typed into markdown, a code comment or a string literal;
a number from elsewhere names its source in the same sentence (the original post, a paper, a README,
the PyTorch tutorial...), and an expectation says it is one. The same holds for comparisons of results
("ReLU pulls ahead", "the loaders are close"): the run prints which one won, the prose does not guess.

The checks are heuristics with a narrow target: each finding names the notebook, the cell and the
sentence, so that it can be rewritten (printed from the run with an f-string, sourced, or labelled as
an expectation).
"""
from __future__ import annotations

import functools
import io
import re
import tokenize

import pytest

from tools import nbkit

NOTEBOOKS = nbkit.notebooks()
IDS = [p.stem for p in NOTEBOOKS]

# A number with the unit of a measured result.
RESULT = re.compile(
    r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s?"
    r"(?:%(?![-\s]?(?:labels?|labeled|unlabeled|of (?:the|each|its|all) |lose|keep))|"
    r"s/epoch|s per epoch|seconds?\b|s\b(?=,? (?:per|a|an|each)\b)|min(?:utes?)?\b|ms\b|"
    r"(?:k\s)?images/s|images per second|[×x] (?:faster|slower|more|fewer|less|the)\b|times (?:faster|slower)|"
    r"[KMG]i?B\b)"
)
# A comparison of two results, stated as a fact.
COMPARISON = re.compile(
    r"\b(?:pulls? ahead|ahead of|(?:higher|lower|better|worse|faster|slower) than|beats?|outperforms?|"
    r"over-?fits? (?:less|more)|under-?fits? (?:less|more)|"
    r"(?:a little|slightly|much|clearly|far|usually|often) (?:higher|lower|better|worse|faster|slower)|"
    r"(?:are|is|stay|stays) close|order can change)\b",
    re.I,
)
# Words that name where a number comes from, or label it as an expectation or a definition.
SOURCED = re.compile(
    r"original post|the post\b|paper|published|reported|\breports?\b|according to|tutorial|README|et al\b|"
    r"\b(?:19|20)\d\d\b|airbench|documentation|\bdocs\b|official|expect|target|chance|probability|"
    r"by definition|in theory|theoretical|source:|\bbytes\b|\d\s?=\s?\d",
    re.I,
)
# Lines written by tools from measurements (benchmarks/), not typed: the header's runtime line.
RENDERED = re.compile(r"^\*\*Runtime\*\*")


def _blocks(markdown: str):
    """Paragraphs, list items and tables of a markdown cell; code and HTML comments removed."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "`code`", text)  # hyper-parameters written as code are settings
    lines = [line for line in text.splitlines() if not RENDERED.match(line.strip())]
    block: list[str] = []
    table_context = ""
    for line in [*lines, ""]:
        stripped = line.strip()
        if stripped.startswith("|"):
            block.append(stripped)
            continue
        if block and block[0].startswith("|"):
            yield "table", table_context + "\n" + "\n".join(block)
            block = []
        if not stripped or re.match(r"^(?:[-*]|\d+\.)\s", stripped) or stripped.startswith("#"):
            if block:
                table_context = " ".join(block)
                yield "text", table_context
            block = [stripped] if stripped else []
        else:
            block.append(stripped)


def _sentences(markdown: str):
    for kind, block in _blocks(markdown):
        if kind == "table":  # a table is sourced by its caption (the paragraph before it) or a column
            yield block
        else:
            yield from (s for s in re.split(r"(?<=[.!?;])\s+(?=[A-Z(*_])", block) if s.strip())


def _code_texts(code: str):
    """Comments and string literals of a code cell (f-string replacement fields removed)."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return
    for token in tokens:
        if token.type == tokenize.COMMENT:
            yield token.string
        elif token.type == tokenize.STRING:
            yield re.sub(r"\{[^{}]*\}", "{}", token.string)
        elif getattr(tokenize, "FSTRING_MIDDLE", None) == token.type:
            yield token.string


def typed_in_results(nb) -> list[str]:
    findings = []
    for index, cell in enumerate(nb.cells):
        text = nbkit.source(cell)
        if cell.cell_type == "markdown":
            for sentence in _sentences(text):
                flat = " ".join(sentence.split())
                if SOURCED.search(flat):
                    continue
                if RESULT.search(flat):
                    findings.append(f"cell {index}: a typed-in result: {flat[:160]}")
                elif COMPARISON.search(flat):
                    findings.append(f"cell {index}: a comparison stated as fact: {flat[:160]}")
        elif cell.cell_type == "code":
            for snippet in _code_texts(text):
                flat = " ".join(snippet.split())
                if RESULT.search(flat) and not SOURCED.search(flat):
                    findings.append(f"cell {index}: a typed-in result in code: {flat[:160]}")
    return findings


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_typed_in_results(path):
    findings = typed_in_results(nbkit.read(path))
    assert not findings, (
        f"{path.name}: results typed into the text. Print them from the values the run computed "
        "(e.g. IPython.display.Markdown with an f-string), name their source in the sentence, or label them "
        "as an expectation:\n  " + "\n  ".join(findings)
    )


@pytest.mark.parametrize("sentence", [
    "In our fast run (b) reached 15.7% test accuracy and (a) 11.9%.",
    "VGG 44.3% at 30 s per epoch, LeNet 42.6% at 5 s.",
    "On a CPU the loaders are close and their order can change.",
    "With longer training ReLU usually pulls ahead.",
    "Flip TTA is often a little higher.",
    "The pooled model overfits less.",
    "GPULoader is 8.1× faster than the DataLoader.",
    "| model | accuracy |\n| --- | --- |\n| VGG | 43.9% |",
])
def test_typed_in_result_is_caught(sentence):
    nb = nbkit.nbformat.v4.new_notebook(cells=[nbkit.nbformat.v4.new_markdown_cell(sentence)])
    assert typed_in_results(nb), f"not caught: {sentence!r}"


@pytest.mark.parametrize("code", [
    'print("exercise 4: 82.1% with pseudo-labels")',
    "# measured: 81.1% in fast mode",
])
def test_typed_in_result_in_code_is_caught(code):
    nb = nbkit.nbformat.v4.new_notebook(cells=[nbkit.nbformat.v4.new_code_cell(code)])
    assert typed_in_results(nb), f"not caught: {code!r}"


@pytest.mark.parametrize("sentence", [
    "The original post reports 58.53% test accuracy with batch size 4096.",
    "The PyTorch tutorial reaches about 55% after 2 epochs.",
    "airbench94 reaches 94% on CIFAR-10 in about 3 seconds on an A100 (Keller Jordan's README).",
    "A random guess is right 10% of the time (chance).",
    "Each image is flipped with probability 50%.",
    "We expect ReLU to pull ahead with longer training, because its gradient does not vanish.",
    "| original post | 87.6% |",
    "Set `lr=0.1` and train for 3 epochs.",
    "Keep the labels of 10% of the training images: 10% labeled, 90% unlabeled.",
    "All 50,000 images take 150 MB (50,000 × 3,072 bytes).",
    "**Runtime** (measured): smoke ~15 s, fast ~2 min on a 2-core CPU; full (GPU) not measured yet.",
])
def test_sourced_or_rendered_numbers_pass(sentence):
    nb = nbkit.nbformat.v4.new_notebook(cells=[nbkit.nbformat.v4.new_markdown_cell(sentence)])
    assert not typed_in_results(nb), typed_in_results(nb)


def test_code_with_computed_numbers_passes():
    code = 'acc = 0.5\nprint(f"test accuracy {acc:.1%} after {3} epochs")  # printed from the run\n'
    nb = nbkit.nbformat.v4.new_notebook(cells=[nbkit.nbformat.v4.new_code_cell(code)])
    assert not typed_in_results(nb)


# -- conventions: solutions, takeaways, the path through the course ------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_solutions_run_only_when_asked(path):
    """Solutions stay hidden on Run All (SHOW_SOLUTIONS = False) and run in CI (the tests set it True)."""
    nb = nbkit.read(path)
    params = nbkit.parameters(nb)
    assert params.get("SHOW_SOLUTIONS") == "False", "the parameters cell needs SHOW_SOLUTIONS = False"
    solutions = nbkit.find_cells(nb, r"^if SHOW_SOLUTIONS:")
    assert solutions, "put the solutions in a code cell under `if SHOW_SOLUTIONS:`"
    for cell in solutions:
        assert cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"), \
            "collapse the solution cell (metadata jupyter.source_hidden: true) so it is not read by accident"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_key_takeaways_and_next_link(path):
    nb = nbkit.read(path)
    takeaways = nbkit.find_cells(nb, r"^## Key takeaways", cell_type="markdown")
    assert len(takeaways) == 1, "end with one '## Key takeaways' markdown cell"
    text = nbkit.source(takeaways[0])
    bullets = re.findall(r"^- ", text, re.M)
    assert 3 <= len(bullets) <= 5, f"Key takeaways: 3 to 5 bullets, found {len(bullets)}"
    later = nb.cells[nb.cells.index(takeaways[0]):]
    links = "".join(nbkit.source(c) for c in later if c.cell_type == "markdown")
    index = NOTEBOOKS.index(path)
    if index + 1 < len(NOTEBOOKS):
        target = NOTEBOOKS[index + 1].name
        assert f"]({target})" in links, f"link to the next notebook after the takeaways: [..]({target})"
    else:
        assert "](../README.md" in links, "the last notebook links back to the course map in ../README.md"


NOT_MEASURED = re.compile(r"not been measured yet|no full-mode run of this notebook has been recorded", re.I)


@functools.cache
def full_mode_records() -> frozenset[str]:
    """The notebooks with a successful full-mode record (read once per test session)."""
    import json

    from tools.paths import REPO

    path = REPO / "benchmarks" / "results" / "notebook_resources_full.json"
    records = json.loads(path.read_text())["notebooks"] if path.exists() else {}
    return frozenset(stem for stem, record in records.items() if record.get("status") == "ok")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_a_notebook_says_full_mode_is_unmeasured_only_while_it_is(path):
    """'No full-mode run of this notebook has been recorded yet' is true until benchmarks/results holds one:
    when a GPU run records the notebook, the sentence must give way to the recorded result."""
    if any(NOT_MEASURED.search(nbkit.source(cell)) for cell in nbkit.markdown_cells(nbkit.read(path))):
        assert path.stem not in full_mode_records(), (
            f"{path.name} says its full mode was not measured, but notebook_resources_full.json has a record of "
            "it: show the recorded result instead")
