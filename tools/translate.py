"""The Korean edition: notebooks/ko/ generated from the English notebooks plus translations/ko/*.md.

    python -m tools.translate            # regenerate notebooks/ko/*.ipynb (fails on stale translations)
    python -m tools.translate --check    # exit 1 when a translation is stale/missing or notebooks/ko is out of date
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
``tools/readme_table.runtime_line_ko`` renders from the same measurements as the English one), so
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

from tools import nbkit, readme_table

LANG = "ko"
TRANSLATIONS = nbkit.REPO / "translations" / LANG
OUTPUT = nbkit.NOTEBOOK_DIR / LANG
BLOCK = re.compile(r"^<!-- cell (\S+) en:([0-9a-f]{12}) -->[ \t]*\n", re.M)
BADGES = re.compile(r"<!-- badges -->.*?<!-- /badges -->", re.S)
RUNTIME = re.compile(r"^\*\*Runtime\*\*.*$", re.M)
RUNTIME_MARK = "<!-- runtime -->"
FILE_HEADER = (
    "<!-- Korean translation of notebooks/{name}. One block per English markdown cell: "
    "`<!-- cell ID en:HASH -->`, then the Korean text. Regenerate with `python -m tools.translate`. -->\n"
)


def without_rendered_parts(text: str) -> str:
    """An English markdown cell with its rendered parts as placeholders (empty badges, runtime marker)."""
    return RUNTIME.sub(RUNTIME_MARK, BADGES.sub("<!-- badges --><!-- /badges -->", text)).strip()


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
    from tools import sync_notebooks

    return sync_notebooks.badges(f"notebooks/{LANG}/{name}")


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
            text = text.replace(RUNTIME_MARK, readme_table.runtime_line_ko(english.stem))
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
            found.append(f"{target.relative_to(nbkit.REPO)} is missing: run python -m tools.translate")
        elif target.read_text(encoding="utf-8") != render(build(english)):
            found.append(f"{target.relative_to(nbkit.REPO)} differs from what the translation generates: "
                         "run python -m tools.translate")
    generated = {p.name for p in nbkit.notebooks()}
    for orphan in sorted(p for p in nbkit.notebooks(OUTPUT) if p.name not in generated):
        found.append(f"{orphan.relative_to(nbkit.REPO)} has no English notebook: delete it")
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report stale translations and notebooks; change nothing")
    parser.add_argument("--todo", metavar="NN", help="print what to translate in notebook NN")
    args = parser.parse_args(argv)
    if args.todo:
        print(todo(args.todo))
        return 0
    if args.check:
        found = check()
        print("\n".join(found) if found else "The Korean edition is up to date.")
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
