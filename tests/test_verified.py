"""The 'last verified' sentence of each title cell (tools/verified.py), rendered from the records."""
import json

from tools import verified

STEM = "03_first_cnn"


def _write(folder, name, data):
    (folder / name).write_text(json.dumps(data))


def _records(tmp_path, newest_outcome="ok"):
    _write(tmp_path, "compatibility.json", {
        "oldest": {"run_mode": "smoke", "installed": {"torch": "2.2.0", "torchvision": "0.17.0"},
                   "notebooks": {STEM: {"outcome": "ok", "date": "2026-12-06"}}},
        "newest": {"run_mode": "smoke", "installed": {"torch": "2.14.1", "torchvision": "0.29.1"},
                   "notebooks": {STEM: {"outcome": newest_outcome, "date": "2026-12-07"}}},
    })
    _write(tmp_path, "notebook_resources_fast.json", {"notebooks": {STEM: {
        "status": "ok", "measured_at": "2026-11-26T02:06:06+00:00",
        "hardware": {"cpu_count": 2, "torch": "2.14.1", "torchvision": "0.29.1", "gpu": None}}}})
    _write(tmp_path, "notebook_resources_full.json", {"notebooks": {STEM: {
        "status": "ok", "measured_at": "2026-11-27T00:00:00+00:00", "gpu": "NVIDIA H100",
        "hardware": {"cpu_count": 16, "torch": "2.11.0", "torchvision": "0.26.0"}}}})


def test_the_sentence_names_mode_versions_machine_and_date_of_each_run(tmp_path):
    _records(tmp_path)
    assert verified.sentence(STEM, tmp_path) == (
        "**Last verified**: smoke mode with torch 2.2.0 / torchvision 0.17.0 (the oldest versions allowed), "
        "2026-12-06; smoke mode with torch 2.14.1 / torchvision 0.29.1 (the newest releases), 2026-12-07; "
        "fast mode with torch 2.14.1 / torchvision 0.29.1 on a 2-core CPU, 2026-11-26; "
        "full mode with torch 2.11.0 / torchvision 0.26.0 on NVIDIA H100, 2026-11-27.")
    assert verified.sentence_ko(STEM, tmp_path).startswith(
        "**마지막 검증**: 2026-12-06 smoke 모드: torch 2.2.0 / torchvision 0.17.0(허용하는 가장 오래된 버전); "
        "2026-12-07 smoke 모드: torch 2.14.1 / torchvision 0.29.1(최신 릴리스); ")
    assert "(2코어 CPU)" in verified.sentence_ko(STEM, tmp_path)


def test_rehearsals_of_the_same_day_share_one_phrase_and_a_failure_is_named(tmp_path):
    _records(tmp_path, newest_outcome="failed")
    record = json.loads((tmp_path / "compatibility.json").read_text())
    record["oldest"]["notebooks"][STEM]["date"] = "2026-12-07"
    _write(tmp_path, "compatibility.json", record)
    english = verified.sentence(STEM, tmp_path)
    assert english.startswith("**Last verified**: smoke mode with torch 2.2.0 / torchvision 0.17.0 (the oldest "
                              "versions allowed) and torch 2.14.1 / torchvision 0.29.1 (the newest releases) "
                              "**failed**, 2026-12-07; fast mode")
    assert "**실패**" in verified.sentence_ko(STEM, tmp_path)


def test_a_notebook_without_records_gets_no_sentence(tmp_path):
    assert verified.sentence(STEM, tmp_path) == verified.sentence_ko(STEM, tmp_path) == ""
    _records(tmp_path)
    assert verified.sentence("99_unknown", tmp_path) == ""
    (tmp_path / "notebook_resources_fast.json").unlink()
    assert "fast mode" not in verified.sentence(STEM, tmp_path)


def test_every_notebook_has_a_sentence_from_the_committed_records():
    from tools import nbkit

    for path in nbkit.notebooks():
        text = verified.sentence(path.stem)
        assert "smoke mode with torch" in text and "fast mode with torch" in text, (path.name, text)
