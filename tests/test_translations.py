"""The Korean edition stays in step with the English notebooks by construction (tools/translate.py)."""
from __future__ import annotations

import shutil

import pytest

from tools import nbkit, translate

ENGLISH = nbkit.notebooks()
IDS = [p.stem for p in ENGLISH]


@pytest.mark.parametrize("english", ENGLISH, ids=IDS)
def test_every_markdown_cell_has_an_up_to_date_translation(english):
    found = translate.problems(english)
    assert not found, ("Korean translation out of date (see `python -m tools.translate --todo "
                       f"{english.name[:2]}`):\n  " + "\n  ".join(found))


@pytest.mark.parametrize("english", ENGLISH, ids=IDS)
def test_generated_notebook_is_committed(english):
    korean = translate.OUTPUT / english.name
    assert korean.is_file(), f"{korean} is missing: run python -m tools.translate"
    assert korean.read_text(encoding="utf-8") == translate.render(translate.build(english)), \
        f"{korean} differs from what tools/translate.py generates: run python -m tools.translate"


@pytest.mark.parametrize("english", ENGLISH, ids=IDS)
def test_code_cells_are_the_english_ones(english):
    """Same code, comments, outputs and order: the editions differ only in their markdown."""
    en, ko = nbkit.read(english), nbkit.read(translate.OUTPUT / english.name)
    assert [c.cell_type for c in en.cells] == [c.cell_type for c in ko.cells]
    for a, b in zip(en.cells, ko.cells, strict=True):
        if a.cell_type == "code":
            assert (a.source, a.get("outputs"), a.metadata) == (b.source, b.get("outputs"), b.metadata)


def test_no_korean_notebook_without_an_english_one():
    names = {p.name for p in ENGLISH}
    assert [p.name for p in nbkit.notebooks(translate.OUTPUT) if p.name not in names] == []


def _copy_repo_bits(tmp_path, monkeypatch, english):
    """A scratch copy of one English notebook and its translation, with translate pointed at it."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "translations" / "ko").mkdir(parents=True)
    shutil.copy(english, tmp_path / "notebooks" / english.name)
    shutil.copy(translate.translation_path(english), tmp_path / "translations" / "ko" / f"{english.stem}.md")
    monkeypatch.setattr(translate, "TRANSLATIONS", tmp_path / "translations" / "ko")
    return tmp_path / "notebooks" / english.name


def test_changed_english_cell_makes_its_translation_stale(tmp_path, monkeypatch):
    english = _copy_repo_bits(tmp_path, monkeypatch, ENGLISH[0])
    assert translate.problems(english) == []
    nb = nbkit.read(english)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and i > 0)
    nb.cells[index].source += "\n\nA sentence added to the English text."
    nbkit.nbformat.write(nb, str(english))
    found = translate.problems(english)
    assert len(found) == 1 and f"cell {index} (id {nb.cells[index].id})" in found[0] and "changed" in found[0]
    with pytest.raises(ValueError, match="stale or missing"):
        translate.build(english)


def test_new_english_cell_needs_a_translation(tmp_path, monkeypatch):
    english = _copy_repo_bits(tmp_path, monkeypatch, ENGLISH[0])
    nb = nbkit.read(english)
    nb.cells.append(nbkit.nbformat.v4.new_markdown_cell("A new paragraph."))
    nbkit.nbformat.write(nb, str(english))
    assert any("no translation" in p for p in translate.problems(english))


def test_rendered_parts_do_not_make_a_translation_stale():
    """New runtimes or a fork's badges change the English title cell, not what was translated."""
    title = ("# 01 · Title\n\n<!-- badges -->[![a](b)](c)<!-- /badges -->\n\n"
             "**Runtime** (measured): smoke ~9 s, fast ~9 s on a 2-core CPU; no GPU needed.")
    moved = title.replace("[![a](b)](c)", "[![a](b)](fork)").replace("~9 s, fast", "~12 s, fast")
    assert translate.english_key(title) == translate.english_key(moved)
    assert translate.english_key(title) != translate.english_key(title.replace("Title", "Another title"))


@pytest.mark.parametrize("english", ENGLISH, ids=IDS)
def test_both_editions_link_to_the_glossary_and_to_each_other(english):
    en_title = nbkit.source(nbkit.read(english).cells[0])
    assert "](../GLOSSARY.md)" in en_title, "the English title cell links to ../GLOSSARY.md"
    assert f"](ko/{english.name})" in en_title, f"the English title cell links to its Korean edition ko/{english.name}"
    korean = translate.OUTPUT / english.name
    ko_title = nbkit.source(nbkit.read(korean).cells[0])
    assert "](../../GLOSSARY.md)" in ko_title, "the Korean title cell links to ../../GLOSSARY.md"
    assert f"](../{english.name})" in ko_title, f"the Korean title cell links back to ../{english.name}"
