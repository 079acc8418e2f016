"""The Korean edition stays in step with the English notebooks by construction (tools/translate.py)."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from tools import nbkit, readme_table, runtimes, translate
from tools.paths import REPO

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


# -- what tools write into the Korean edition is written in Korean -------------------------------------------

# The English generators' phrasing (tools/runtimes.py, tools/readme_table.py): runtime lines, course- and
# results-table cells (a headline's value with "vs" between numbers).
ENGLISH_GENERATED = re.compile(
    r"\*\*Runtime\*\*|\(measured\)|not measured yet|pending a (?:GPU|fast-mode) run|\d-core CPU|"
    r"~\d[\d.]*\s?(?:s|min)\b|\bpeak (?:RAM|GPU memory)\b|with its child processes|mode measured on|"
    r"no recorded run yet|headline result|\d(?:%| s) vs \d")
README_KO = REPO / "README.ko.md"


def english_generated_phrases(text: str) -> list[str]:
    return [match.group(0) for match in ENGLISH_GENERATED.finditer(text)]


@pytest.mark.parametrize("english", ENGLISH, ids=IDS)
def test_korean_notebook_has_no_english_generated_phrasing(english):
    korean = nbkit.read(translate.OUTPUT / english.name)
    found = [f"cell {i}: {phrase!r}" for i, cell in enumerate(korean.cells) if cell.cell_type == "markdown"
             for phrase in english_generated_phrases(nbkit.source(cell))]
    assert not found, ("English phrasing from the generator in the Korean notebook (render it in Korean in "
                       "tools/runtimes.py, then python -m tools.sync_notebooks):\n  " + "\n  ".join(found))


def test_readme_ko_has_no_english_generated_phrasing():
    found = english_generated_phrases(README_KO.read_text(encoding="utf-8"))
    assert not found, f"README.ko.md shows the English generator's phrasing: {found}"


def _measurements(tmp_path, stem):
    hardware = {"cpu_count": 2}
    files = {
        "smoke": {stem: {"status": "ok", "seconds": 17.1, "hardware": hardware}},
        "fast": {stem: {"status": "ok", "seconds": 115.1, "hardware": hardware,
                        "results": {"relu_test_accuracy": 0.5693, "chance_accuracy": 0.1},
                        "peak_rss_mib": 1415.4, "tree_peak_rss_mib": 2979.2}},
        "full": {stem: {"status": "ok", "seconds": 41, "gpu": "NVIDIA H100 80GB HBM3", "hardware": hardware,
                        "results": {"relu_test_accuracy": 0.6012}, "peak_rss_mib": 2131.4, "gpu_peak_mib": 1451.9}},
    }
    for mode, entries in files.items():
        (tmp_path / f"notebook_resources_{mode}.json").write_text(json.dumps({"notebooks": entries}))
    return files


def test_english_generated_phrasing_is_caught_and_korean_passes(tmp_path):
    """Planted cases from the generators themselves: every English rendering is caught, its Korean one is not."""
    stem = "03_first_cnn"
    files = _measurements(tmp_path, stem)
    comparison = {"tensor_dataset_pass_seconds": 0.02, "per_sample_transform_pass_seconds": 0.31}
    first = {"status": "ok", "seconds": 15, "hardware": {"cpu_count": 2}, "results": comparison}
    english = [runtimes.runtime_line(stem, tmp_path), runtimes.runtime_line(stem, tmp_path / "none"),
               readme_table.measured_cell(stem, files["fast"][stem]),
               readme_table.measured_cell(stem, files["full"][stem]),
               readme_table.HEADLINES["01_datasets_and_dataloaders"].render(comparison),
               readme_table.course_table(), readme_table.results_table()]
    korean = [runtimes.runtime_line_ko(stem, tmp_path), runtimes.runtime_line_ko(stem, tmp_path / "none"),
              readme_table.measured_cell_ko(stem, files["fast"][stem]),
              readme_table.measured_cell_ko(stem, files["full"][stem]),
              readme_table.measured_cell_ko("01_datasets_and_dataloaders", first),
              readme_table.korean_course_table(), readme_table.korean_results_table()]
    assert all(english_generated_phrases(text) for text in english), \
        [text for text in english if not english_generated_phrases(text)]
    assert not any(english_generated_phrases(text) for text in korean), [english_generated_phrases(t) for t in korean]


def test_korean_runtime_line_renders_each_mode(tmp_path):
    stem = "03_first_cnn"
    assert runtimes.runtime_line_ko(stem, tmp_path) == \
        "**실행 시간(측정값)**: smoke 모드 측정 전, fast 모드 측정 전, full 모드(GPU) 측정 전"
    files = _measurements(tmp_path, stem)
    assert runtimes.runtime_line_ko(stem, tmp_path) == (
        "**실행 시간(측정값)**: smoke 모드 약 15초, fast 모드 약 2분(2코어 CPU), "
        "full 모드 약 40초(NVIDIA H100 80GB HBM3)")
    assert readme_table.measured_cell_ko(stem, files["fast"][stem]) == \
        "56.9%; 2분, 최대 RAM 1.4 GB(하위 프로세스 포함 2.9 GB)"
    assert readme_table.measured_cell_ko(stem, files["full"][stem]) == \
        "60.1%; 40초, 최대 RAM 2.1 GB, 최대 GPU 메모리 1.4 GB"


@pytest.mark.parametrize("english", ENGLISH, ids=IDS)
def test_korean_title_cell_shows_the_korean_runtime_line(english):
    title = nbkit.source(nbkit.read(translate.OUTPUT / english.name).cells[0])
    assert title.count(runtimes.runtime_line_ko(english.stem)) == 1, \
        "the Korean title cell's runtime line is rendered from benchmarks/results: run python -m tools.sync_notebooks"


def test_readme_ko_starts_the_korean_edition_directly():
    text = README_KO.read_text(encoding="utf-8")
    assert re.search(r"```bash\n[^`]*^jupyter lab notebooks/ko/$", text, re.M | re.S), \
        "README.ko.md's start command opens the Korean notebooks: jupyter lab notebooks/ko/"
    assert "<!-- results-table-ko -->" in text and "JPEG" in text, \
        "README.ko.md shows the expected results (rendered table) and says the recorded CIFAR runs used JPEG copies"


# -- GLOSSARY.md's mechanical rules (rules 8-12) ----------------------------------------------------------------

def test_translations_follow_the_glossary_rules():
    found = translate.style_report()
    assert not found, ("The Korean edition breaks GLOSSARY.md's rules (python -m tools.translate --check lists "
                       "them):\n  " + "\n  ".join(found))


@pytest.mark.parametrize("text, rule", [
    ("레이블(label)은 `int`, 곧 클래스 이름의 인덱스입니다.", "rule 8"),  # issue 27: 01
    ("실행에서, 10에폭, 곧 옵티마이저 스텝 940번 뒤에", "rule 8"),
    ("얼마나 많이 쓸지, 곧 적용 비율과", "rule 8"),
    ("데이터 증강(패딩(padding)을 넣은 무작위 자르기)은 훈련 데이터에만 적용합니다.", "rule 9"),  # issue 27: 04
    ("**선수 지식**: 노트북 02(정규화(normalization), 데이터 증강)와 03.", "rule 9"),
    ("이 만남을 부릅니다(*랑데부*(rendezvous)).", "rule 9"),
    ("합성곱 층 8개로 이루어집니다:", "rule 10"),  # issue 27: 07
    ("터미널에서 직접 실행해 보세요:", "rule 10"),
    ("DDP는 올리듀스로 기울기를 평균합니다.", "rule 11"),  # issue 27: 10
    ("같은 옵티마이저 스텝을 밟습니다.", "rule 11"),
    ("배치의 1/W로 밟는 SGD 스텝 한 번", "rule 11"),
    ("28×28 흑백 이미지", "rule 11"),
    ("변환을 적용한 부분 집합", "rule 11"),
    ("숫자 하나를 파이썬으로 복사합니다.", "rule 11"),
    ("값이 0..1 범위인 텐서", "rule 11"),
])
def test_the_glossary_check_finds_a_planted_breach(text, rule):
    found = translate.style_problems(text)
    assert any(f.startswith(rule) for f in found), found


@pytest.mark.parametrize("text", [
    "학습이 곧 끝납니다.",  # 곧 meaning "soon" is Korean, not a breach
    "학습을 시작하면, 곧 손실이 줄어듭니다.",
    "잔차 연결은 기울기를 곧바로 전달합니다.",
    "레이블은 클래스 이름의 인덱스인 `int`입니다. 즉 정수입니다.",
    "배치 정규화(batch normalization)를 씁니다(노트북 07).",
    "평가는 `model.eval()` 안에서 합니다(`torch.no_grad()`(기울기 끔)와 함께).",
    "**선수 지식**: 노트북 01. 결과를 읽는 법:",
    "DDP는 *all-reduce*로 평균합니다(`dist.all_reduce(x)`).",
    "스텝을 수행합니다. `x[0..1]`은 코드입니다.",
    "정규화(normalization)는 [README](../README.md)(영어)에 있습니다. $f(g(x))$ 수식도 됩니다.",
    "모델을 학습시켜 회색조 이미지의 부분집합을 Python으로 읽고 0~1로 바꿉니다.",
])
def test_the_glossary_check_passes_legitimate_korean(text):
    assert translate.style_problems(text) == []


def test_next_link_shows_the_next_notebooks_korean_title():
    texts = {p.name: translate.translation_path(p).read_text(encoding="utf-8") for p in ENGLISH}
    assert translate.next_link_problems(texts) == []
    planted = dict(texts)
    name = ENGLISH[6].name  # 07, whose link said "08 · ...의 내부" while 08 is titled "... 들여다보기" (issue 27)
    planted[name] = re.sub(r"^다음: \[08 · .*\]", "다음: [08 · `Dataset`, `Sampler`, `DataLoader`의 내부]",
                           texts[name], flags=re.M)
    assert planted[name] != texts[name]
    assert any("rule 12" in p for p in translate.next_link_problems(planted))
