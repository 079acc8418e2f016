"""The Korean edition: notebooks/ko/ generated from the English notebooks plus translations/ko/*.md.

    python -m tools.translate            # regenerate notebooks/ko/*.ipynb (fails on stale translations)
    python -m tools.translate --check    # exit 1 when a translation is stale/missing, notebooks/ko is out of date,
                                         # or the Korean text breaks one of GLOSSARY.md's mechanical rules
    python -m tools.translate --todo 03  # show what to translate: each stale or missing cell, English and old Korean

One source of truth. Code cells of a Korean notebook are the English notebook's, unchanged (code,
comments, outputs); only markdown cells are replaced by their translation. A translation file
``translations/ko/NN_name.md`` holds one block per English markdown cell:

    <!-- cell 43033bc1 en:5f0c2a9b61d4 -->
    # 03 · 첫 번째 CNN: CIFAR-10으로 LeNet 학습하기
    ...

``43033bc1`` is the English cell's id and ``5f0c2a9b61d4`` a hash of the English text the block
translates. When the English cell changes, its hash changes and the translation is stale until a
translator updates the Korean text and the hash (``--todo`` prints both the new English text and
the new hash). Two parts of the title cell are rendered, not translated: the badges (``<!-- badges
--><!-- /badges -->``, filled with links to the Korean notebook) and the measured runtime line
(``<!-- runtime -->`` in the translation, replaced by the Korean runtime line that
``tools/runtimes.runtime_line_ko`` renders from the same measurements as the English one), so
re-measuring runtimes or moving the repository does not make a translation stale. Every phrase a tool
writes into the Korean edition is written in Korean (tests/test_translations.py checks it).
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tools import links, nbkit, runtimes, verified
from tools.links import BADGES
from tools.paths import NOTEBOOK_DIR, REPO

LANG = "ko"
TRANSLATIONS = REPO / "translations" / LANG
OUTPUT = NOTEBOOK_DIR / LANG
BLOCK = re.compile(r"^<!-- cell (\S+) en:([0-9a-f]{12}) -->[ \t]*\n", re.M)
RUNTIME_MARK = "<!-- runtime -->"
FILE_HEADER = (
    "<!-- Korean translation of notebooks/{name}. One block per English markdown cell: "
    "`<!-- cell ID en:HASH -->`, then the Korean text. Regenerate with `python -m tools.translate`. -->\n"
)


def without_rendered_parts(text: str) -> str:
    """An English markdown cell with its rendered parts as placeholders (empty badges, runtime marker)."""
    return runtimes.RUNTIME_LINE.sub(RUNTIME_MARK, BADGES.sub("<!-- badges --><!-- /badges -->", text)).strip()


def english_key(text: str) -> str:
    """The hash of an English markdown cell, ignoring its rendered parts (badges, runtime line)."""
    return hashlib.sha256(without_rendered_parts(text).encode()).hexdigest()[:12]


@dataclass
class Block:
    cell_id: str
    key: str
    text: str


def translation_path(english: Path) -> Path:
    return TRANSLATIONS / f"{english.stem}.md"


def read_translations(path: Path) -> dict[str, Block]:
    """The blocks of a translation file, by English cell id."""
    if not path.is_file():
        return {}
    content = path.read_text(encoding="utf-8")
    marks = list(BLOCK.finditer(content))
    blocks = {}
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        end = after.start() if after else len(content)
        cell_id, key = mark.group(1), mark.group(2)
        if cell_id in blocks:
            raise ValueError(f"{path}: cell {cell_id} is translated twice")
        blocks[cell_id] = Block(cell_id, key, content[mark.end():end].strip())
    return blocks


def problems(english: Path) -> list[str]:
    """Stale or missing translations of one English notebook, each naming the cell."""
    nb = nbkit.read(english)
    blocks = read_translations(translation_path(english))
    found = []
    wanted = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        wanted.add(cell.id)
        first = nbkit.source(cell).strip().splitlines()[0][:70] if nbkit.source(cell).strip() else ""
        block = blocks.get(cell.id)
        if block is None:
            found.append(f"{english.name} cell {index} (id {cell.id}): no translation [{first}]")
        elif block.key != english_key(nbkit.source(cell)):
            found.append(f"{english.name} cell {index} (id {cell.id}): the English text changed since it was "
                         f"translated [{first}]")
        elif not block.text:
            found.append(f"{english.name} cell {index} (id {cell.id}): the translation is empty")
    for extra in sorted(set(blocks) - wanted):
        found.append(f"{translation_path(english).name}: block for cell {extra}, which is not a markdown cell of "
                     f"{english.name} any more (delete it)")
    return found


def korean_badges(name: str) -> str:
    """The Colab and Binder badges for notebooks/ko/<name>, pointing at the configured repository."""
    return links.badges(f"notebooks/{LANG}/{name}")


def build(english: Path) -> nbformat.NotebookNode:
    """The Korean notebook for one English notebook (raises ValueError on stale translations)."""
    found = problems(english)
    if found:
        raise ValueError("stale or missing translations:\n  " + "\n  ".join(found)
                         + f"\nSee them with: python -m tools.translate --todo {english.name[:2]}")
    nb = nbkit.read(english)
    blocks = read_translations(translation_path(english))
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = blocks[cell.id].text
        if BADGES.search(text):
            text = BADGES.sub(lambda _: korean_badges(english.name), text)
        if RUNTIME_MARK in text:
            mode = ((nb.metadata.get("course") or {}).get("outputs") or {}).get("mode")  # the outputs' run
            line = " ".join(filter(None, [runtimes.runtime_line_ko(english.stem, outputs_mode=mode),
                                          verified.sentence_ko(english.stem)]))
            text = text.replace(RUNTIME_MARK, line)
        cell.source = text
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["course"] = {**nb.metadata.get("course", {}), "edition": LANG, "generated_from": english.name}
    return nb


def render(nb) -> str:
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def check() -> list[str]:
    """Everything that is stale: translations, and generated notebooks that differ from what is committed."""
    found = []
    for english in nbkit.notebooks():
        stale = problems(english)
        found.extend(stale)
        if stale:
            continue
        target = OUTPUT / english.name
        if not target.is_file():
            found.append(f"{target.relative_to(REPO)} is missing: run python -m tools.translate")
        elif target.read_text(encoding="utf-8") != render(build(english)):
            found.append(f"{target.relative_to(REPO)} differs from what the translation generates: "
                         "run python -m tools.translate")
    generated = {p.name for p in nbkit.notebooks()}
    for orphan in sorted(p for p in nbkit.notebooks(OUTPUT) if p.name not in generated):
        found.append(f"{orphan.relative_to(REPO)} has no English notebook: delete it")
    return found


def todo(number: str) -> str:
    """For translators: each stale or missing cell of notebook ``number``, with its new hash and texts."""
    matches = [p for p in nbkit.notebooks() if p.name.startswith(number)]
    if len(matches) != 1:
        raise SystemExit(f"no single English notebook numbered {number!r}")
    english = matches[0]
    blocks = read_translations(translation_path(english))
    out = []
    for index, cell in enumerate(nbkit.read(english).cells):
        if cell.cell_type != "markdown":
            continue
        key = english_key(nbkit.source(cell))
        block = blocks.get(cell.id)
        if block is None or block.key != key:
            out.append(f"=== cell {index}: put this header on its block: <!-- cell {cell.id} en:{key} -->")
            out.append("--- English:\n" + without_rendered_parts(nbkit.source(cell)))
            if block is not None:
                out.append("--- current Korean (translates an older English text):\n" + block.text)
    return "\n".join(out) or f"{english.name}: every markdown cell is translated and up to date."


# -- the glossary's mechanical rules ------------------------------------------------------------------
# GLOSSARY.md, "Rules for the Korean edition", lists every rule; the ones a pattern can check without
# judgement are checked here, on the Korean text with its code, math, link targets and comment markers
# masked. Rules that need a reader (종료 vs 멈춤, 너비 for width, 곧 meaning "soon") are not.

HANGUL = "\uac00-\ud7a3"
# An English gloss: a Korean word (or the closing * of an emphasized one) directly followed by (English).
GLOSS = re.compile(rf"(?<=[{HANGUL}*])\(([A-Za-z][A-Za-z0-9 .,'/&+\-]*)\)")
STYLE_RULES = (
    # "X, 곧 Y" for "X, i.e. Y". Not after a connective ending (-면, -서, -고, ...), where 곧 means "soon".
    ("8", re.compile(r"(?<![면서고며니데만도록자게듯에\s]),[ \t]*곧(?=\s)"),
     "'곧' for 'i.e.' reads as 'soon': write '즉'"),
    ("10", re.compile(r"(?:니다|세요|까요)[ \t]*:"), "a sentence ends in ':': end it with '.'"),
    ("11", re.compile("올리듀스"), "keep all-reduce in English: *all-reduce*, `all_reduce`"),
    ("11", re.compile(r"스텝\S*\s+(?:\S+\s+)?밟|밟\S*\s+(?:\S+\s+){0,2}스텝"),
     "not '스텝을 밟다': write '스텝을 수행하다' or '한 번 갱신하다'"),
    ("11", re.compile("파이썬"), "write Python"),
    ("11", re.compile("부분 집합"), "write 부분집합"),
    ("11", re.compile("흑백"), "grayscale is 회색조"),
    ("11", re.compile(r"(?<![\d.])0\.\.1(?![\d.])"), "write 0~1 (0..1 only in code)"),
)


def _masked(text: str) -> str:
    """``text`` with code, math, link targets and HTML comment markers replaced by filler of the same length,
    so that positions still match and no rule fires inside them."""
    def fill(match, char="x"):
        return re.sub(r"[^\n]", char, match.group(0))

    text = re.sub(r"```.*?```", fill, text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", fill, text)
    text = re.sub(r"\$[^$\n]+\$", fill, text)
    text = re.sub(r"\]\([^)\s]*\)", lambda m: "]" + fill(m)[1:], text)
    return re.sub(r"<!--|-->", lambda m: fill(m, " "), text)


def glosses_in_parentheses(text: str) -> list[str]:
    """English glosses written inside a parenthesis, e.g. '(데이터 증강(data augmentation) 포함)' (rule 9)."""
    masked = _masked(text)
    glosses = {m.start(): m for m in GLOSS.finditer(masked)}
    found, depth = [], 0
    for i, char in enumerate(masked):
        if i in glosses and depth:
            found.append(text[max(0, text.rfind("(", 0, i) - 20):glosses[i].end()])
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == "\n" and masked[i + 1:i + 2] == "\n":  # a paragraph ends every parenthesis
            depth = 0
    return found


def style_problems(text: str) -> list[str]:
    """Breaches of the glossary's mechanical rules in Korean Markdown, each with its rule and the text."""
    masked = _masked(text)
    found = []
    for rule, pattern, message in STYLE_RULES:
        for match in pattern.finditer(masked):
            start = text.rfind("\n", 0, match.start()) + 1
            end = text.find("\n", match.end())
            found.append(f"rule {rule}: {message}: «{text[start:end if end >= 0 else None].strip()[:110]}»")
    found += [f"rule 9: an English gloss inside parentheses (gloss at first use outside them, or split the "
              f"sentence): «{' '.join(snippet.split())}»" for snippet in glosses_in_parentheses(text)]
    return found


NEXT_LINK = re.compile(r"^다음: \[(\d\d) · (.+)\]\((\d\d_\w+\.ipynb)\)", re.M)


def next_link_problems(translations: dict[str, str]) -> list[str]:
    """``다음:`` links whose text is not the linked notebook's Korean title (or its beginning) (rule 12).
    ``translations``: the Korean text of each notebook, by notebook file name."""
    titles = {}
    for name, text in translations.items():
        if title := nbkit.TITLE.search(text):
            titles[name] = title.group(2).strip()
    found = []
    for name, text in translations.items():
        for link in NEXT_LINK.finditer(text):
            target, shown = link.group(3), link.group(2).strip()
            title = titles.get(target)
            if title is None:
                found.append(f"{name}: '다음:' links to {target}, which has no Korean title")
            elif not title.startswith(shown) or link.group(1) != target[:2]:
                found.append(f"{name}: rule 12: the '다음:' link says «{link.group(1)} · {shown}», but {target} is "
                             f"titled «{target[:2]} · {title}»")
    return found


def style_report() -> list[str]:
    """Every breach of the mechanical rules in translations/ko and README.ko.md, each naming where it is."""
    found = []
    texts = {}
    for english in nbkit.notebooks():
        blocks = read_translations(translation_path(english))
        texts[english.name] = "\n\n".join(block.text for block in blocks.values())
        for block in blocks.values():
            found += [f"{translation_path(english).name} cell {block.cell_id}: {p}" for p in style_problems(block.text)]
    found += next_link_problems(texts)
    readme = REPO / "README.ko.md"
    if readme.is_file():
        found += [f"README.ko.md: {p}" for p in style_problems(readme.read_text(encoding="utf-8"))]
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report stale translations and notebooks; change nothing")
    parser.add_argument("--todo", metavar="NN", help="print what to translate in notebook NN")
    args = parser.parse_args(argv)
    if args.todo:
        print(todo(args.todo))
        return 0
    if args.check:
        found = check() + style_report()
        print("\n".join(found) if found else "The Korean edition is up to date and follows GLOSSARY.md's rules.")
        return 1 if found else 0
    written, failed = regenerate()
    for name in written:
        print(f"wrote notebooks/{LANG}/{name}")
    if failed:
        print("\n".join(failed), file=sys.stderr)
        return 1
    return 0


def regenerate() -> tuple[list[str], list[str]]:
    """Write every Korean notebook whose translation is up to date; return (written, failures)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    written, failed = [], []
    for english in nbkit.notebooks():
        try:
            text = render(build(english))
        except ValueError as error:
            failed.append(f"{english.name}: {error}")
            continue
        target = OUTPUT / english.name
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            written.append(english.name)
    return written, failed


if __name__ == "__main__":
    sys.exit(main())
