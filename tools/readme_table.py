"""The tables of README.md and README.ko.md, rendered from the notebooks and the measurement records.

    python -m tools.sync_notebooks            # renders them (and everything else that is rendered)
    python -m tools.sync_notebooks --check    # exit 1 if anything is out of date (a test runs this)

Each table sits between two markers, ``<!-- NAME -->`` and ``<!-- /NAME -->``, and is replaced whole:

- ``course-table`` (README.md) and ``course-table-ko`` (README.ko.md): one row per notebook of notebooks/
  (notebooks/ko/): number and title (linked) from the title line ``# NN · Title``; what you learn, from a
  ``<!-- summary: ... -->`` comment in the title cell (else its first **You will learn** bullet); the measured
  runtimes in fast mode (CPU) and full mode (GPU); the Colab and Binder badges (tools/links.py).
- ``results-table`` and ``results-table-ko``: one row per notebook: its headline result (:data:`HEADLINES`,
  the one place that says which of its reported results a reader looks at first), and, in fast mode and in
  full mode, that result, the time and the peak memory of the recorded run; then which machines measured.
- ``gpu-targets`` (benchmarks/README.md): the GPU targets and whether they were met (benchmarks/gpu_targets.py).

The measurements come from ``benchmarks/results/notebook_resources_<mode>.json`` (benchmarks/records.py);
runtimes are worded by tools/runtimes.py, which also renders each notebook's runtime line.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

from benchmarks import gpu_targets
from benchmarks.records import measured, measurements
from tools import links, nbkit
from tools.paths import REPO
from tools.runtimes import hardware_name, human_seconds, human_seconds_ko, runtime_cell, runtime_cell_ko

SUMMARY = re.compile(r"<!--\s*summary:\s*(.*?)\s*-->", re.S)


@dataclass(frozen=True)
class Headline:
    """The result of a notebook that README's results table shows: what it is (``label``, ``label_ko``) and how
    to write it (``value``: a :meth:`str.format` template whose fields are keys of the results the notebook
    reports with ``course_utils.show_results``; ``value_ko`` where Korean needs other words, e.g. units)."""

    label: str
    label_ko: str
    value: str
    value_ko: str | None = None

    def keys(self) -> set[str]:
        """The results keys the templates read."""
        return {field for template in (self.value, self.value_ko or self.value)
                for _, field, _, _ in string.Formatter().parse(template) if field}

    def render(self, results: dict, korean: bool = False) -> str:
        """The value written from ``results``; ``–`` when a key is missing (tests/test_readme_tables.py names it)."""
        if not self.keys() <= set(results):
            return "–"
        return ((self.value_ko or self.value) if korean else self.value).format(**results)


# The headline result of each notebook (README's results table), keyed by notebook stem. A new notebook needs
# one: tests/test_readme_tables.py checks that every notebook has a headline whose keys it reports.
HEADLINES = {
    "01_datasets_and_dataloaders": Headline(
        "one pass over the same images: `TensorDataset` vs a per-image transform",
        "같은 이미지를 한 번 도는 시간: `TensorDataset` 대 이미지별 변환",
        "{tensor_dataset_pass_seconds:.2f} s vs {per_sample_transform_pass_seconds:.2f} s",
        "{tensor_dataset_pass_seconds:.2f}초 대 {per_sample_transform_pass_seconds:.2f}초"),
    "02_normalization_and_augmentation": Headline(
        "nearest-centroid test accuracy: clean test images vs augmented ones",
        "중심 분류기의 테스트 정확도: 증강하지 않은 테스트 이미지 대 증강한 이미지",
        "{centroid_clean_test_accuracy:.1%} vs {centroid_augmented_test_min:.1%}–{centroid_augmented_test_max:.1%}",
        "{centroid_clean_test_accuracy:.1%} 대 {centroid_augmented_test_min:.1%}~{centroid_augmented_test_max:.1%}"),
    "03_first_cnn": Headline(
        "test accuracy of LeNet with ReLU", "ReLU를 쓴 LeNet의 테스트 정확도", "{relu_test_accuracy:.1%}"),
    "04_cnn_batchnorm_cifar100": Headline(
        "CIFAR-100 test accuracy: design (a) vs design (b)", "CIFAR-100 테스트 정확도: 설계 (a) 대 설계 (b)",
        "{design_a_test_accuracy:.1%} vs {design_b_test_accuracy:.1%}",
        "{design_a_test_accuracy:.1%} 대 {design_b_test_accuracy:.1%}"),
    "05_vgg": Headline(
        "test accuracy, mean (lowest–highest) over seeds: VGG vs LeNet",
        "테스트 정확도, 시드 평균(최저~최고): VGG 대 LeNet",
        "{test_accuracy_vgg_mean:.1%} ({test_accuracy_vgg_low:.1%}–{test_accuracy_vgg_high:.1%}) vs "
        "{test_accuracy_lenet_mean:.1%} ({test_accuracy_lenet_low:.1%}–{test_accuracy_lenet_high:.1%})",
        "{test_accuracy_vgg_mean:.1%}({test_accuracy_vgg_low:.1%}~{test_accuracy_vgg_high:.1%}) 대 "
        "{test_accuracy_lenet_mean:.1%}({test_accuracy_lenet_low:.1%}~{test_accuracy_lenet_high:.1%})"),
    "06_transfer_learning": Headline(
        "test accuracy with few CIFAR-10 labels, mean (lowest–highest) over seeds: feature extraction / "
        "fine-tuning / from scratch",
        "CIFAR-10 레이블이 적을 때의 테스트 정확도, 시드 평균(최저~최고): 특징 추출 / 미세 조정 / 처음부터 학습",
        "{transfer_feature_extraction_test_accuracy:.1%} ({transfer_feature_extraction_low:.1%}–"
        "{transfer_feature_extraction_high:.1%}) / {transfer_finetune_test_accuracy:.1%} ({transfer_finetune_low:.1%}–"
        "{transfer_finetune_high:.1%}) / {transfer_scratch_test_accuracy:.1%} ({transfer_scratch_low:.1%}–"
        "{transfer_scratch_high:.1%})",
        "{transfer_feature_extraction_test_accuracy:.1%}({transfer_feature_extraction_low:.1%}~"
        "{transfer_feature_extraction_high:.1%}) / {transfer_finetune_test_accuracy:.1%}({transfer_finetune_low:.1%}~"
        "{transfer_finetune_high:.1%}) / {transfer_scratch_test_accuracy:.1%}({transfer_scratch_low:.1%}~"
        "{transfer_scratch_high:.1%})"),
    "07_resnet": Headline("ResNet-9 test accuracy", "ResNet-9의 테스트 정확도", "{test_accuracy:.1%}"),
    "08_dataset_sampler_internals": Headline(
        "test accuracy of the original post's CNN", "원본 글에 나온 CNN의 테스트 정확도", "{cnn_test_accuracy:.1%}"),
    "09_semi_supervised_sampler": Headline(
        "test accuracy with 10% of the labels, mean (lowest–highest) over seeds: labels only vs pseudo-labeling",
        "레이블 10%로 학습한 테스트 정확도, 시드 평균(최저~최고): 레이블만 대 의사 레이블링",
        "{test_accuracy_labels_only_mean:.1%} ({test_accuracy_labels_only_low:.1%}–"
        "{test_accuracy_labels_only_high:.1%}) vs {test_accuracy_pseudo_label_mean:.1%} "
        "({test_accuracy_pseudo_label_low:.1%}–"
        "{test_accuracy_pseudo_label_high:.1%})",
        "{test_accuracy_labels_only_mean:.1%}({test_accuracy_labels_only_low:.1%}~"
        "{test_accuracy_labels_only_high:.1%}) 대 {test_accuracy_pseudo_label_mean:.1%}"
        "({test_accuracy_pseudo_label_low:.1%}~"
        "{test_accuracy_pseudo_label_high:.1%})"),
    "10_distributed_data_parallel": Headline(
        "test accuracy after training with DDP", "DDP로 학습한 뒤의 테스트 정확도", "{ddp_test_accuracy:.1%}"),
}


def notebook_info(path: Path) -> dict:
    """Number, title and what you learn, from the notebook's title cell."""
    header = nbkit.header(nbkit.read(path))
    title = nbkit.TITLE.search(header)
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


# -- the course tables --------------------------------------------------------------------------------------

def _course_table(root: Path, folder: Path, header: str, not_fast: str, not_full: str, runtime=runtime_cell) -> str:
    """One row per notebook of ``folder``: title (linked), summary, measured runtimes (each written by
    ``runtime``, the edition's phrasing), Colab and Binder badges."""
    results_dir = root / "benchmarks" / "results"
    rows = [header, "| --- | --- | --- | --- | --- | --- |"]
    for path in nbkit.notebooks(folder):
        info = notebook_info(path)
        fast, full = measured(path.stem, "fast", results_dir), measured(path.stem, "full", results_dir)
        in_repo = path.relative_to(root).as_posix()
        rows.append(f"| {info['number']} | [{_cell(info['title'])}]({in_repo}) | {_cell(info['learn'])} | "
                    f"{runtime(fast) if fast else not_fast} | {runtime(full) if full else not_full} | "
                    f"{links.launch_badges(in_repo, root)} |")
    return "\n".join(rows)


def course_table(root: Path = REPO) -> str:
    return _course_table(root, root / "notebooks",
                         "| # | notebook | you learn | fast mode (CPU) | full mode (GPU) | open in |",
                         "not measured yet", "pending a GPU run")


def korean_course_table(root: Path = REPO) -> str:
    """README.ko.md's course table: the Korean notebooks (notebooks/ko/), their Korean titles and summaries."""
    header = "| # | 노트북 | 배우는 내용 | fast 모드(CPU) | full 모드(GPU) | 열기 |"
    return _course_table(root, root / "notebooks" / "ko", header, "측정 전", "GPU 측정 전", runtime_cell_ko)


# -- the results tables -------------------------------------------------------------------------------------

def measured_cell(stem: str, entry: dict) -> str:
    """One recorded run of notebook ``stem``: its headline result; its time and peak memory."""
    cost = [human_seconds(entry["seconds"])]
    if entry.get("peak_rss_mib"):
        memory = f"peak RAM {entry['peak_rss_mib'] / 1024:.1f} GB"
        tree = entry.get("tree_peak_rss_mib") or 0
        if tree > 1.25 * entry["peak_rss_mib"]:  # worker or training processes beside the kernel
            memory += f" ({tree / 1024:.1f} GB with its child processes)"
        cost.append(memory)
    if entry.get("gpu_peak_mib"):
        cost.append(f"peak GPU memory {entry['gpu_peak_mib'] / 1024:.1f} GB")
    return f"{HEADLINES[stem].render(entry.get('results') or {})}; {', '.join(cost)}"


def measured_cell_ko(stem: str, entry: dict) -> str:
    """:func:`measured_cell` in Korean."""
    cost = [human_seconds_ko(entry["seconds"])]
    if entry.get("peak_rss_mib"):
        memory = f"최대 RAM {entry['peak_rss_mib'] / 1024:.1f} GB"
        tree = entry.get("tree_peak_rss_mib") or 0
        if tree > 1.25 * entry["peak_rss_mib"]:
            memory += f"(하위 프로세스 포함 {tree / 1024:.1f} GB)"
        cost.append(memory)
    if entry.get("gpu_peak_mib"):
        cost.append(f"최대 GPU 메모리 {entry['gpu_peak_mib'] / 1024:.1f} GB")
    return f"{HEADLINES[stem].render(entry.get('results') or {}, korean=True)}; {', '.join(cost)}"


def _machine(entry: dict) -> str:
    """The machine of one measurement in full: its name, platform and torch version."""
    hw = entry.get("hardware") or {}
    parts = [hardware_name(entry), hw.get("platform"), f"torch {hw['torch']}" if hw.get("torch") else None]
    return ", ".join(p for p in parts if p)


def _machines(mode: str, results_dir: Path) -> dict[str, list[str]]:
    """``{machine: [notebook numbers]}`` of the successful measurements in ``mode``."""
    machines: dict[str, list[str]] = {}
    for stem in sorted(measurements(mode, results_dir).get("notebooks") or {}):
        if entry := measured(stem, mode, results_dir):
            machines.setdefault(_machine(entry), []).append(stem[:2])
    return machines


def _machines_note(mode: str, results_dir: Path) -> str:
    """Which machine(s) measured ``mode``; with several, which notebooks ran on each."""
    source = f"benchmarks/results/notebook_resources_{mode}.json"
    machines = _machines(mode, results_dir)
    if not machines:
        return f"{mode} mode: no recorded run yet ({source})."
    if len(machines) == 1:
        return f"{mode} mode measured on {next(iter(machines))} ({source})."
    listed = "; ".join(f"{name} (notebooks {', '.join(numbers)})" for name, numbers in machines.items())
    return f"{mode} mode measured on {listed} ({source})."


def _machines_note_ko(mode: str, results_dir: Path) -> str:
    """:func:`_machines_note` in Korean."""
    source = f"`benchmarks/results/notebook_resources_{mode}.json`"
    machines = {name.replace("-core CPU", "코어 CPU"): numbers
                for name, numbers in _machines(mode, results_dir).items()}
    if not machines:
        return f"{mode} 모드는 아직 기록된 실행이 없습니다({source})."
    if len(machines) == 1:
        return f"{mode} 모드 측정 환경: {next(iter(machines))} ({source})."
    listed = "; ".join(f"{name} (노트북 {', '.join(numbers)})" for name, numbers in machines.items())
    return f"{mode} 모드 측정 환경: {listed} ({source})."


def _imports_only(results_dir: Path) -> dict:
    """The fast-mode measurement of a kernel that only imports torch, torchvision and course_utils, or {}."""
    imports = measurements("fast", results_dir).get("imports_only") or {}
    return imports if imports.get("status") == "ok" and imports.get("peak_rss_mib") else {}


def results_table(root: Path = REPO) -> str:
    """README.md's results table: one row per notebook, then where and how it was measured."""
    results_dir = root / "benchmarks" / "results"
    rows = ["| # | notebook | headline result | fast mode (CPU): result; time, memory | "
            "full mode (GPU): result; time, memory |", "| --- | --- | --- | --- | --- |"]
    for path in nbkit.notebooks(root / "notebooks"):
        info = notebook_info(path)
        cells = [measured_cell(path.stem, entry) if (entry := measured(path.stem, mode, results_dir))
                 else "not measured yet" for mode in ("fast", "full")]
        rows.append(f"| {info['number']} | {_cell(info['title'])} | {_cell(HEADLINES[path.stem].label)} | "
                    f"{_cell(cells[0])} | {_cell(cells[1])} |")
    notes = [_machines_note(mode, results_dir) for mode in ("fast", "full")]
    memory = ("Peak RAM is the kernel's; \"with its child processes\" is the largest sum of the kernel's and its "
              "child processes' memory, sampled every 0.5 s (an upper bound with DataLoader workers, which share "
              "memory with the kernel).")
    if imports := _imports_only(results_dir):
        memory += (f" A kernel that only imports torch {imports['torch']} ({imports['torch_build']} build), "
                   f"torchvision and course_utils already peaks at {imports['peak_rss_mib'] / 1024:.2f} GB.")
    notes.append(memory)
    notes.append("Each notebook reports more than its headline: see the table in its last cell, or the JSON files.")
    return "\n".join(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def korean_results_table(root: Path = REPO) -> str:
    """README.ko.md's results table: :func:`results_table` from the same files, in Korean, with the Korean
    notebooks' titles."""
    results_dir = root / "benchmarks" / "results"
    rows = ["| # | 노트북 | 대표 결과 | fast 모드(CPU): 결과; 시간, 메모리 | full 모드(GPU): 결과; 시간, 메모리 |",
            "| --- | --- | --- | --- | --- |"]
    for path in nbkit.notebooks(root / "notebooks" / "ko"):
        info = notebook_info(path)
        cells = [measured_cell_ko(path.stem, entry) if (entry := measured(path.stem, mode, results_dir))
                 else "측정 전" for mode in ("fast", "full")]
        rows.append(f"| {info['number']} | {_cell(info['title'])} | {_cell(HEADLINES[path.stem].label_ko)} | "
                    f"{_cell(cells[0])} | {_cell(cells[1])} |")
    notes = [_machines_note_ko(mode, results_dir) for mode in ("fast", "full")]
    memory = ("최대 RAM은 커널이 쓴 메모리의 최댓값입니다. '하위 프로세스 포함'은 커널과 하위 프로세스가 쓴 메모리의 "
              "합을 0.5초마다 재서 얻은 최댓값입니다. 데이터 로더의 워커는 커널과 메모리를 공유하므로 실제보다 큰 "
              "값입니다.")
    if imports := _imports_only(results_dir):
        memory += (f" torch {imports['torch']}({imports['torch_build']} 빌드), torchvision, course_utils를 "
                   f"임포트하기만 하는 커널도 최대 {imports['peak_rss_mib'] / 1024:.2f} GB를 씁니다.")
    notes.append(memory)
    notes.append("노트북은 대표 결과 말고도 여러 값을 보고합니다. 노트북의 마지막 셀에 있는 표나 JSON 파일을 보세요.")
    return "\n".join(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes)


# -- rendering ------------------------------------------------------------------------------------------------

TABLES = (("course-table", course_table), ("results-table", results_table))
BENCHMARK_TABLES = (("gpu-targets", gpu_targets.table),)  # benchmarks/README.md: for maintainers, not students
KOREAN_TABLES = (("course-table-ko", korean_course_table), ("results-table-ko", korean_results_table))


def render(readme: str, root: Path = REPO, tables=TABLES) -> str:
    """``readme`` with each of ``tables`` (marker name, function of the repository root) rendered."""
    for name, table in tables:
        start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if not pattern.search(readme):
            raise SystemExit(f"the README needs the markers {start} ... {end}")
        rendered = f"{start}\n{table(root)}\n{end}"
        readme = pattern.sub(lambda _, text=rendered: text, readme)
    return readme


def render_benchmarks(readme: str, root: Path = REPO) -> str:
    """benchmarks/README.md's text with the GPU targets rendered."""
    return render(readme, root, BENCHMARK_TABLES)


def render_korean(readme: str, root: Path = REPO) -> str:
    """README.ko.md's text with its course table and its results table rendered."""
    return render(readme, root, KOREAN_TABLES)
