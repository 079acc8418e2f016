"""README.md's two tables and each notebook's runtime line, rendered from the notebooks and the measurements.

    python -m tools.sync_notebooks            # renders these (and the setup cells and badges)
    python -m tools.sync_notebooks --check    # exit 1 if anything is out of date (a test runs this)

Course table (between ``<!-- course-table -->`` and ``<!-- /course-table -->``), one row per
``notebooks/NN_*.ipynb``, from each notebook's first (markdown) cell and the measurements:

- number and title: the line ``# NN · Title``;
- what you learn: a ``<!-- summary: ... -->`` comment if the cell has one, else the first bullet of
  **You will learn**;
- runtimes (fast mode on a CPU, full mode on a GPU): from ``benchmarks/results/notebook_resources_<mode>.json``;
- Colab and Binder badges: from the repository URL in pyproject.toml.

Measured-results table (between ``<!-- results-table -->`` and ``<!-- /results-table -->``): the
accuracies each notebook reported (``course_utils.show_results``), its time and peak memory, from the
same JSON files, or "pending" where no run was recorded.

The runtime line of each notebook's first cell (:func:`runtime_line`) comes from the same JSON files:
runtimes are measured in one place and never parsed back out of prose.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from benchmarks import records
from tools import links, nbkit
from tools.paths import REPO, RESULTS_DIR

TITLE = re.compile(r"^# (\d\d) · (.+)$", re.M)
SUMMARY = re.compile(r"<!--\s*summary:\s*(.*?)\s*-->", re.S)
RUNTIME_LINE = re.compile(r"^\*\*Runtime\*\* \(measured\):.*$", re.M)  # where the rendered line goes


def human_seconds(seconds: float) -> str:
    """Rounded for a reader: '8 s', '25 s', '1.5 min', '12 min'."""
    if seconds < 10:
        return f"{max(1, round(seconds))} s"
    if seconds < 60:
        return f"{5 * round(seconds / 5)} s"
    if seconds < 600:
        minutes = round(seconds / 30) / 2
        return f"{minutes:g} min"
    return f"{round(seconds / 60)} min"


def measured(stem: str, mode: str, results_dir: Path = RESULTS_DIR) -> dict | None:
    """The successful measurement of notebook ``stem`` in ``mode``, or None."""
    entry = (records.measurements(mode, results_dir).get("notebooks") or {}).get(stem)
    return entry if entry and entry.get("status") == "ok" and entry.get("seconds") is not None else None


def hardware_name(entry: dict) -> str:
    """The machine of one measurement: the GPU's name, else ``N-core CPU``."""
    hw = entry.get("hardware") or {}
    return entry.get("gpu") or hw.get("gpu") or f"{hw.get('cpu_count', '?')}-core CPU"


def runtime_line(stem: str, results_dir: Path = RESULTS_DIR, outputs_mode: str | None = None) -> str:
    """The ``**Runtime** (measured):`` line of notebook ``stem``'s first cell. ``outputs_mode``: the mode of the
    run whose outputs the notebook carries (benchmarks/recorded_outputs.py), which the line then names."""
    smoke, fast, full = (measured(stem, mode, results_dir) for mode in ("smoke", "fast", "full"))
    parts = [f"smoke ~{human_seconds(smoke['seconds'])}" if smoke else "smoke not measured yet",
             f"fast ~{human_seconds(fast['seconds'])} on a {hardware_name(fast)}" if fast
             else "fast not measured yet"]
    full_text = (f"full ~{human_seconds(full['seconds'])} on {_article(hardware_name(full))}" if full
                 else "full (GPU) not measured yet")
    line = f"**Runtime** (measured): {', '.join(parts)}; {full_text}."
    run = measured(stem, outputs_mode, results_dir) if outputs_mode else None
    if run:
        line += (f" The outputs shown are from the {outputs_mode}-mode run on {_article(hardware_name(run))} "
                 f"on {_date(run)}.")
    return line


def _date(entry: dict) -> str:
    """The day a measurement was made (``measured_at``, ISO 8601), e.g. ``2026-11-26``."""
    return str(entry.get("measured_at") or "an unrecorded date")[:10]


def _article(name: str) -> str:
    return f"a {name}" if name.endswith("CPU") else name


def notebook_info(path: Path) -> dict:
    header = nbkit.header(nbkit.read(path))
    title = TITLE.search(header)
    if not title:
        raise SystemExit(f"{path.name}: the first cell must start with a title line '# NN · Title'")
    summary = SUMMARY.search(header)
    if summary:
        learn = " ".join(summary.group(1).split())
    else:
        bullets = re.findall(r"^- (.+)$", header.split("**You will learn**", 1)[-1], re.M)
        learn = bullets[0].rstrip(";.") if bullets else ""
    return {"number": title.group(1), "title": title.group(2).strip(), "learn": learn, "path": path}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _runtime_cell(entry: dict) -> str:
    return f"~{human_seconds(entry['seconds'])} ({hardware_name(entry)})"


def _course_table(root: Path, folder: Path, header: str, not_fast: str, not_full: str,
                  runtime_cell=_runtime_cell) -> str:
    """One row per notebook of ``folder``: title (linked), summary, measured runtimes (each written by
    ``runtime_cell``, the edition's phrasing), Colab and Binder badges."""
    results_dir = root / "benchmarks" / "results"
    rows = [header, "| --- | --- | --- | --- | --- | --- |"]
    for path in nbkit.notebooks(folder):
        info = notebook_info(path)
        fast, full = measured(path.stem, "fast", results_dir), measured(path.stem, "full", results_dir)
        fast_text = runtime_cell(fast) if fast else not_fast
        full_text = runtime_cell(full) if full else not_full
        in_repo = path.relative_to(root).as_posix()
        launch = links.launch_badges(in_repo, root)
        rows.append(f"| {info['number']} | [{_cell(info['title'])}]({in_repo}) | "
                    f"{_cell(info['learn'])} | {fast_text} | {full_text} | {launch} |")
    return "\n".join(rows)


def course_table(root: Path = REPO) -> str:
    return _course_table(root, root / "notebooks",
                         "| # | notebook | you learn | fast mode (CPU) | full mode (GPU) | open in |",
                         "not measured yet", "pending a GPU run")


def _accuracy_keys(entry: dict) -> list[str]:
    """The keys of the accuracies a results entry shows: those ending in ``accuracy``, chance excluded."""
    return [key for key, value in (entry.get("results") or {}).items()
            if key.endswith("accuracy") and key != "chance_accuracy" and isinstance(value, (int, float))]


def _measured_cell(entry: dict) -> str:
    """Accuracies the notebook reported, its runtime and peak memory, from one results entry."""
    results = entry.get("results") or {}
    shown = [f"{key.removesuffix('accuracy').rstrip('_').replace('_', ' ') or 'accuracy'} {100 * results[key]:.1f}%"
             for key in _accuracy_keys(entry)]
    cost = [human_seconds(entry["seconds"])]
    if entry.get("peak_rss_mib"):
        cost.append(f"peak RAM {entry['peak_rss_mib'] / 1024:.1f} GB")
        tree = entry.get("tree_peak_rss_mib") or 0
        if tree > 1.25 * entry["peak_rss_mib"]:  # worker or training processes beside the kernel
            cost.append(f"with its child processes up to {tree / 1024:.1f} GB")
    if entry.get("gpu_peak_mib"):
        cost.append(f"peak GPU memory {entry['gpu_peak_mib'] / 1024:.1f} GB")
    return "; ".join(filter(None, [", ".join(shown), ", ".join(cost)]))


def _hardware(entry: dict) -> str:
    hw = entry.get("hardware") or {}
    parts = [entry.get("gpu") or hw.get("gpu") or f"{hw.get('cpu_count', '?')}-core CPU", hw.get("platform"),
             f"torch {hw['torch']}" if hw.get("torch") else None]
    return ", ".join(p for p in parts if p)


def _machines_note(mode: str, results_dir: Path) -> str:
    """Which machine(s) measured ``mode``; with several, which notebooks ran on each."""
    source = f"benchmarks/results/notebook_resources_{mode}.json"
    entries = {stem: entry for stem, entry in (records.measurements(mode, results_dir).get("notebooks") or {}).items()
               if measured(stem, mode, results_dir)}
    if not entries:
        return f"{mode} mode: no recorded run yet ({source})."
    machines: dict[str, list[str]] = {}
    for stem, entry in sorted(entries.items()):
        machines.setdefault(_hardware(entry), []).append(stem[:2])
    if len(machines) == 1:
        return f"{mode} mode measured on {next(iter(machines))} ({source})."
    listed = "; ".join(f"{name} (notebooks {', '.join(numbers)})" for name, numbers in machines.items())
    return f"{mode} mode measured on {listed} ({source})."


def results_table(root: Path = REPO) -> str:
    results_dir = root / "benchmarks" / "results"
    rows = ["| # | notebook | fast mode (CPU): accuracy; time, memory | full mode (GPU): accuracy; time, memory |",
            "| --- | --- | --- | --- |"]
    for path in nbkit.notebooks(root / "notebooks"):
        info = notebook_info(path)
        cells = []
        for mode, pending in (("fast", "pending a fast-mode run"), ("full", "pending a GPU run")):
            entry = measured(path.stem, mode, results_dir)
            cells.append(_measured_cell(entry) if entry else pending)
        rows.append(f"| {info['number']} | {_cell(info['title'])} | {cells[0]} | {cells[1]} |")
    notes = [_machines_note(mode, results_dir) for mode in ("fast", "full")]
    notes.append("Peak RAM is the kernel's. \"With its child processes\" is the largest sum of the kernel's and its "
                 "child processes' resident memory, sampled every 0.5 s: an upper bound for DataLoader workers, which "
                 "share pages with the kernel and are counted twice, and close to the real total for notebook 10, "
                 "whose training processes are separate Python processes.")
    imports = records.measurements("fast", results_dir).get("imports_only") or {}
    if imports.get("status") == "ok" and imports.get("peak_rss_mib"):
        notes.append(f"Peak RAM includes the imports every notebook starts with: a kernel that only imports torch "
                     f"{imports['torch']} ({imports['torch_build']} build), torchvision and course_utils peaks at "
                     f"{imports['peak_rss_mib'] / 1024:.2f} GB in fast mode on the same machine.")
    return "\n".join(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes)


# The GPU targets (issue 14's list): what full mode on one GPU should reach, where the target comes from,
# and how to read the measurement. A missed target stays in the table as "missed"; never lower a target to
# make it pass. Each ``measure`` gets (full-mode results by notebook stem, cifar10_speed.json or {}) and
# returns (measured text or None, met: bool or None).
def _full(results: dict, stem: str, key: str):
    entry = results.get(stem) or {}
    return (entry.get("results") or {}).get(key) if entry.get("status") == "ok" else None


def _at_least(stem: str, key: str, target: float, label: str):
    def measure(results, speed):
        value = _full(results, stem, key)
        return (None, None) if value is None else (f"{label} {value:.2%}", value >= target)
    return measure


def _best_at_least(stem: str, keys: dict[str, str], target: float):
    def measure(results, speed):
        values = {label: _full(results, stem, key) for label, key in keys.items()}
        if any(v is None for v in values.values()):
            return None, None
        best = max(values, key=values.get)
        return f"best: {best} test {values[best]:.2%}", values[best] >= target
    return measure


def _seconds_at_most(stem: str, limit: float):
    def measure(results, speed):
        entry = results.get(stem) or {}
        if entry.get("status") != "ok":
            return None, None
        return f"whole notebook {entry['seconds']:.0f} s", entry["seconds"] <= limit
    return measure


def _pseudo_above_labels_only(results, speed):
    labels, pseudo = (_full(results, "09_semi_supervised_sampler", k)
                      for k in ("labels_only_test_accuracy", "pseudo_label_test_accuracy"))
    if labels is None or pseudo is None:
        return None, None
    return f"labels only {labels:.2%}, pseudo-labeling {pseudo:.2%}", labels >= 0.8726 and pseudo > labels


def _ratio_to_airbench(results, speed):
    course, air = speed.get("course_resnet") or {}, speed.get("airbench94") or {}
    if not course or air.get("accuracy") is None:
        return None, None
    if speed.get("ratio_to_airbench") is None:
        return (f"never reached airbench94's {air['accuracy']:.2%} in {course['recipe']['epochs']} epochs "
                f"(final {course['accuracy']:.2%} after {course['train_seconds']:.1f} s; airbench94 "
                f"{air['train_seconds']:.2f} s)", False)
    return f"{speed['ratio_to_airbench']:.2f}×", speed["ratio_to_airbench"] <= 5


def _loader_speedup(results, speed):
    loaders = speed.get("loader_images_per_s") or {}
    if not loaders.get("speedup"):
        return None, None
    return (f"{loaders['speedup']:.1f}× ({loaders['gpu_loader']:,.0f} vs {loaders['dataloader_2_workers']:,.0f} "
            "images/s)", loaders["speedup"] >= 20)


GPU_TARGETS = (
    ("03 · LeNet test accuracy ≥ 55%", "the PyTorch CIFAR-10 tutorial's result",
     _at_least("03_first_cnn", "relu_test_accuracy", 0.55, "test")),
    ("04 · CIFAR-100 test accuracy ≥ 58.5%", "the original post",
     _best_at_least("04_cnn_batchnorm_cifar100", {"design A": "design_a_test_accuracy",
                                                   "design B": "design_b_test_accuracy"}, 0.585)),
    ("04 · whole notebook ≤ 10 min", "course target", _seconds_at_most("04_cnn_batchnorm_cifar100", 600)),
    ("07 · whole notebook ≤ 2 min", "course target", _seconds_at_most("07_resnet", 120)),
    ("07 · ResNet-9 reaches airbench94's accuracy in ≤ 5× its training time (stretch ≤ 3×)",
     "airbench94 on the same data and GPU (benchmarks/cifar10_speed.py)", _ratio_to_airbench),
    ("07 · `GPULoader` ≥ 20× the 2-worker `DataLoader`", "course target (benchmarks/cifar10_speed.py)",
     _loader_speedup),
    ("08 · CNN test accuracy ≥ 91.89% (validation split)", "the original post",
     _at_least("08_dataset_sampler_internals", "cnn_test_accuracy", 0.9189, "CNN test")),
    ("09 · labels only ≥ 87.26%, pseudo-labeling above it", "the original post", _pseudo_above_labels_only),
)


def gpu_targets_table(root: Path = REPO) -> str:
    results_dir = root / "benchmarks" / "results"
    results = records.measurements("full", results_dir).get("notebooks") or {}
    speed_file = results_dir / "cifar10_speed.json"
    speed = json.loads(speed_file.read_text()) if speed_file.is_file() else {}
    if speed.get("quick"):  # a --quick check run is never a measurement
        speed = {}
    rows = ["| target | source of the target | measured (full mode) | status |", "| --- | --- | --- | --- |"]
    for target, source, measure in GPU_TARGETS:
        text, met = measure(results, speed)
        status = "not measured yet" if met is None else ("met" if met else "**missed**")
        rows.append(f"| {target} | {source} | {text or '–'} | {status} |")
    machines = sorted({hardware_name(e) for e in results.values() if e.get("status") == "ok"}
                      | ({speed["device"]} if speed.get("device") else set()))
    note = (f"Measured on {', '.join(machines)} (benchmarks/results/notebook_resources_full.json, "
            "benchmarks/results/cifar10_speed.json; what was tried for missed targets: benchmarks/README.md)."
            if machines else "No GPU run recorded yet.")
    return "\n".join(rows) + "\n\n" + note


def render(readme: str, root: Path = REPO, tables=None) -> str:
    """README.md's text with both tables rendered (``tables``: other (marker, function) pairs)."""
    for name, table in tables or (("course-table", course_table), ("results-table", results_table),
                                   ("gpu-targets", gpu_targets_table)):
        start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if not pattern.search(readme):
            raise SystemExit(f"the README needs the markers {start} ... {end}")
        rendered = f"{start}\n{table(root)}\n{end}"
        readme = pattern.sub(lambda _, text=rendered: text, readme)
    return readme


# -- the Korean edition's phrasing --------------------------------------------------------------------
# The same measurements, written in Korean: README.ko.md's tables and the runtime line of each Korean
# notebook's title cell (tools/translate.py puts it where the translation has ``<!-- runtime -->``).
# tests/test_translations.py fails if the English phrasing above appears in the Korean edition.

def human_seconds_ko(seconds: float) -> str:
    """:func:`human_seconds` in Korean: '8초', '25초', '1.5분', '12분'."""
    number, unit = human_seconds(seconds).split()
    return number + {"s": "초", "min": "분"}[unit]


def hardware_name_ko(entry: dict) -> str:
    """The machine of one measurement: the GPU's name, else ``N코어 CPU``."""
    hw = entry.get("hardware") or {}
    return entry.get("gpu") or hw.get("gpu") or f"{hw.get('cpu_count', '?')}코어 CPU"


def _runtime_cell_ko(entry: dict) -> str:
    return f"약 {human_seconds_ko(entry['seconds'])}({hardware_name_ko(entry)})"


def runtime_line_ko(stem: str, results_dir: Path = RESULTS_DIR, outputs_mode: str | None = None) -> str:
    """The runtime line of the Korean notebook ``stem``'s title cell, from the same measurements as
    :func:`runtime_line` (and, as there, the run whose outputs the notebook shows)."""
    smoke, fast, full = (measured(stem, mode, results_dir) for mode in ("smoke", "fast", "full"))
    parts = [f"smoke 모드 약 {human_seconds_ko(smoke['seconds'])}" if smoke else "smoke 모드 측정 전",
             f"fast 모드 {_runtime_cell_ko(fast)}" if fast else "fast 모드 측정 전",
             f"full 모드 {_runtime_cell_ko(full)}" if full else "full 모드(GPU) 측정 전"]
    line = f"**실행 시간(측정값)**: {', '.join(parts)}"
    run = measured(stem, outputs_mode, results_dir) if outputs_mode else None
    if run:
        line += (f". 아래 출력은 {_date(run)}에 {hardware_name_ko(run)}에서 {outputs_mode} 모드로 실행한 "
                 "결과입니다.")
    return line


def korean_course_table(root: Path = REPO) -> str:
    """README.ko.md's course table: the Korean notebooks (notebooks/ko/), their Korean titles and summaries."""
    header = "| # | 노트북 | 배우는 내용 | fast 모드(CPU) | full 모드(GPU) | 열기 |"
    return _course_table(root, root / "notebooks" / "ko", header, "측정 전", "GPU 측정 전", _runtime_cell_ko)


# The accuracies the notebooks report (``course_utils.show_results`` keys), named as the Korean notebooks
# name them. A key missing here is shown as the key itself, in code format; a test lists the missing ones.
KOREAN_RESULT_LABELS = {
    "centroid_clean_test_accuracy": "중심 분류기 테스트(증강 없음)",
    "hand_loop_val_accuracy": "직접 작성한 루프 검증",
    "relu_test_accuracy": "ReLU 테스트",
    "tanh_test_accuracy": "tanh 테스트",
    "ablation_batchnorm_dropout_val_accuracy": "(b) 배치 정규화+드롭아웃 검증",
    "ablation_neither_val_accuracy": "(b) 둘 다 없음 검증",
    "ablation_no_batchnorm_val_accuracy": "(b) 배치 정규화 없음 검증",
    "ablation_no_dropout_val_accuracy": "(b) 드롭아웃 없음 검증",
    "design_a_test_accuracy": "설계 (a) 테스트",
    "design_a_tta_test_accuracy": "설계 (a) TTA 테스트",
    "design_b_test_accuracy": "설계 (b) 테스트",
    "lenet_test_accuracy": "LeNet 테스트",
    "vgg_test_accuracy": "VGG 테스트",
    "transfer_feature_extraction_test_accuracy": "특징 추출 테스트",
    "transfer_finetune_test_accuracy": "미세 조정 테스트",
    "transfer_scratch_test_accuracy": "처음부터 학습 테스트",
    "vgg16_head_test_accuracy": "VGG16 헤드 테스트",
    "test_accuracy": "테스트",
    "test_tta_accuracy": "TTA 테스트",
    "val_accuracy": "검증",
    "cnn_test_accuracy": "CNN 테스트",
    "new_cnn_test_accuracy": "newCNN 테스트",
    "all_labels_test_accuracy": "모든 레이블 테스트",
    "labels_only_test_accuracy": "레이블 10%(같은 에폭 수) 테스트",
    "labels_only_same_steps_test_accuracy": "레이블 10%(같은 스텝 수) 테스트",
    "pseudo_label_test_accuracy": "의사 레이블링(같은 에폭 수) 테스트",
    "pseudo_label_same_steps_test_accuracy": "의사 레이블링(같은 스텝 수) 테스트",
    "ddp_test_accuracy": "DDP 테스트",
}


def _measured_cell_ko(entry: dict) -> str:
    """:func:`_measured_cell` in Korean."""
    results = entry.get("results") or {}
    shown = [f"{KOREAN_RESULT_LABELS.get(key, f'`{key}`')} {100 * results[key]:.1f}%" for key in _accuracy_keys(entry)]
    cost = [human_seconds_ko(entry["seconds"])]
    if entry.get("peak_rss_mib"):
        cost.append(f"최대 RAM {entry['peak_rss_mib'] / 1024:.1f} GB")
        tree = entry.get("tree_peak_rss_mib") or 0
        if tree > 1.25 * entry["peak_rss_mib"]:
            cost.append(f"하위 프로세스 포함 최대 {tree / 1024:.1f} GB")
    if entry.get("gpu_peak_mib"):
        cost.append(f"최대 GPU 메모리 {entry['gpu_peak_mib'] / 1024:.1f} GB")
    return "; ".join(filter(None, [", ".join(shown), ", ".join(cost)]))


def _machines_note_ko(mode: str, results_dir: Path) -> str:
    """:func:`_machines_note` in Korean."""
    source = f"`benchmarks/results/notebook_resources_{mode}.json`"
    entries = {stem: entry for stem, entry in (records.measurements(mode, results_dir).get("notebooks") or {}).items()
               if measured(stem, mode, results_dir)}
    if not entries:
        return f"{mode} 모드는 아직 기록된 실행이 없습니다({source})."
    machines: dict[str, list[str]] = {}
    for stem, entry in sorted(entries.items()):
        machines.setdefault(_hardware(entry).replace("-core CPU", "코어 CPU"), []).append(stem[:2])
    if len(machines) == 1:
        return f"{mode} 모드 측정 환경: {next(iter(machines))} ({source})."
    listed = "; ".join(f"{name} (노트북 {', '.join(numbers)})" for name, numbers in machines.items())
    return f"{mode} 모드 측정 환경: {listed} ({source})."


def korean_results_table(root: Path = REPO) -> str:
    """README.ko.md's table of measured results: :func:`results_table` from the same files, in Korean, with the
    Korean notebooks' titles."""
    results_dir = root / "benchmarks" / "results"
    rows = ["| # | 노트북 | fast 모드(CPU): 정확도; 시간, 메모리 | full 모드(GPU): 정확도; 시간, 메모리 |",
            "| --- | --- | --- | --- |"]
    for path in nbkit.notebooks(root / "notebooks" / "ko"):
        info = notebook_info(path)
        cells = []
        for mode, pending in (("fast", "fast 모드 측정 전"), ("full", "GPU 측정 전")):
            entry = measured(path.stem, mode, results_dir)
            cells.append(_measured_cell_ko(entry) if entry else pending)
        rows.append(f"| {info['number']} | {_cell(info['title'])} | {cells[0]} | {cells[1]} |")
    notes = [_machines_note_ko(mode, results_dir) for mode in ("fast", "full")]
    notes.append("최대 RAM은 커널이 쓴 메모리의 최댓값입니다. '하위 프로세스 포함'은 커널과 하위 프로세스가 "
                 "쓴 메모리의 합을 0.5초마다 재서 얻은 최댓값입니다. 데이터 로더의 워커는 커널과 공유하는 "
                 "메모리가 두 번 세어지므로 실제보다 큰 값이고, 별도의 Python 프로세스로 학습하는 노트북 10에서는 "
                 "실제 합계에 가깝습니다.")
    return "\n".join(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes)


KOREAN_TABLES = (("course-table-ko", korean_course_table), ("results-table-ko", korean_results_table))


def render_korean(readme: str, root: Path = REPO) -> str:
    """README.ko.md's text with its course table and its table of measured results rendered."""
    return render(readme, root, KOREAN_TABLES)


if __name__ == "__main__":
    sys.exit("Run python -m tools.sync_notebooks (it renders README.md's tables, the notebooks' runtime lines, "
             "setup cells and badges).")

