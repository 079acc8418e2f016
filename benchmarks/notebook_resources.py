"""Measure what each notebook costs in one run mode: wall time, peak memory, and the results it reports.

Run from the repository root:

    python -m benchmarks.notebook_resources --mode smoke                 # every notebooks/NN_*.ipynb
    python -m benchmarks.notebook_resources --mode fast 01 03            # some notebooks (by number or path)
    python -m benchmarks.notebook_resources --mode fast --render         # ... then render the notebooks'
                                                                         # runtime lines and README.md's tables
    python -m benchmarks.notebook_resources --mode full --render         # on a GPU machine
    python -m benchmarks.notebook_resources --outputs 01 03              # ... and commit the run's outputs

``--outputs``: run each notebook in its recording mode (full mode where a full-mode (GPU) measurement of its
current code exists, else fast mode; ``--mode`` chooses another, but never fast mode where a GPU record exists), measure
it, and write the run's outputs, cleaned (benchmarks/recorded_outputs.py), into the committed notebook;
then render the runtime lines (which name that run) and the Korean edition, which carries the same outputs.
A notebook whose outputs come from a mode is re-recorded whenever it is measured in that mode, so its
outputs and its measurement always come from the same run. Notebooks whose recording mode is full are
skipped on a machine without a GPU, saying so.

Each notebook is executed headless with papermill (``RUN_MODE`` injected, working directory
notebooks/, like the tests), with one extra cell appended to the executed copy that reports, from
inside the kernel:

- ``peak_rss_mib``: the kernel's peak resident memory (``getrusage(RUSAGE_SELF).ru_maxrss``);
- ``children_peak_rss_mib``: the largest peak of the kernel's finished child processes
  (DataLoader workers), or 0;
- ``gpu_peak_mib``: ``torch.cuda.max_memory_allocated()`` of the kernel when it used a GPU (GPU memory of
  child processes, such as notebook 10's torchrun ranks, is not counted).

A sampler in this process also records ``tree_peak_rss_mib``, the largest sum of resident memory of
the kernel and its child processes seen every 0.5 s (it counts pages that forked workers share with
the kernel more than once, so it is an upper bound). Wall time includes starting the kernel.

Results are merged into benchmarks/results/notebook_resources_<mode>.json (one entry per notebook,
each with the hardware it ran on), so notebooks can be measured one at a time. These files are the
one place runtimes live: ``python -m tools.sync_notebooks`` (what ``--render`` runs) renders each
notebook's ``**Runtime** (measured)`` line and README.md's tables from them. mybinder.org gives 2 GB
of memory: tests/test_launch.py checks fast mode's ``peak_rss_mib`` against it. Commit the JSON, the
notebooks and README together.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

try:
    from benchmarks import recorded_outputs
    from tools import execute, nbkit, sync_notebooks
    from tools.paths import REPO, RESULTS_DIR
except ModuleNotFoundError as error:  # run as a file, without the repository root on sys.path
    raise SystemExit(f"{error}: run this from the repository root as python -m benchmarks.notebook_resources") from None


PROBE_MIMETYPE = "application/vnd.course-resources+json"
PROBE = f'''# Appended by benchmarks/notebook_resources.py: report this kernel's peak memory.
def _course_resources():
    import sys
    report = {{"peak_rss_mib": None, "children_peak_rss_mib": 0, "gpu_peak_mib": None, "gpu": None}}
    try:
        import resource
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
        report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
        report["children_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale / 2**20
    except ImportError:  # Windows
        import psutil
        report["peak_rss_mib"] = psutil.Process().memory_info().peak_wset / 2**20
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        report["gpu"] = torch.cuda.get_device_name(0)
        report["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    from IPython.display import display
    display({{"{PROBE_MIMETYPE}": report}}, raw=True)

_course_resources()
'''


def hardware() -> dict:
    info = {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    try:
        import psutil

        info["ram_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return info


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


class TreeSampler(threading.Thread):
    """Largest summed RSS of this process's descendants (the kernel and its workers), sampled."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self.peak, self._halt = interval, 0, threading.Event()

    def run(self):
        try:
            import psutil
        except ImportError:
            return
        me = psutil.Process()
        while not self._halt.is_set():
            total = 0
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak / 2**20


def measure(path: Path, mode: str, timeout: float | None, executed_to: Path | None = None) -> dict:
    """One notebook's measurement (see the module's docstring). ``executed_to``: where to keep the executed
    copy (papermill writes it as the cells run, so it also shows how far a stopped run got); default: nowhere."""
    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(executed_to) if executed_to else Path(tmp) / path.name
        sampler = TreeSampler()
        sampler.start()
        start = time.perf_counter()
        error = None
        try:
            execute.execute(path, executed, {"RUN_MODE": mode}, timeout=timeout, append=[PROBE])
        except Exception as exc:  # keep measuring the other notebooks; report it
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        seconds = time.perf_counter() - start
        tree_peak = sampler.stop()
        ran = nbkit.read(executed) if executed.exists() else None
    probe = nbkit.outputs(ran, PROBE_MIMETYPE) if ran else {}
    return {
        "status": "ok" if error is None else f"failed: {error}",
        "seconds": round(seconds, 1),
        "peak_rss_mib": _round(probe.get("peak_rss_mib")),
        "children_peak_rss_mib": _round(probe.get("children_peak_rss_mib")),
        "tree_peak_rss_mib": _round(tree_peak),
        "gpu": probe.get("gpu"),
        "gpu_peak_mib": _round(probe.get("gpu_peak_mib")),
        "results": nbkit.results(ran) if ran else {},
    }


def measure_entry(path: Path, mode: str, timeout: float | None, executed_to: Path | None = None) -> dict:
    """:func:`measure`, with the hardware it ran on, the time and the hash of the code that ran
    (:func:`tools.nbkit.code_hash`): one entry of the results file."""
    hw = hardware()  # per notebook: the load average tells whether the machine was busy
    code = nbkit.code_hash(nbkit.read(path))
    entry = measure(path, mode, timeout, executed_to)
    entry["hardware"] = dict(hw, gpu=entry.get("gpu"))
    entry["measured_at"] = now()
    entry["code_sha256"] = code
    return entry


def record_outputs(path: Path, mode: str, timeout: float | None, log=print) -> dict:
    """Measure notebook ``path`` in ``mode`` and write the run's cleaned outputs into it; return the entry.
    The notebook is left as it was when the run failed or cannot be committed (the entry's status says why)."""
    committed = nbkit.read(path)
    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / path.name
        entry = measure_entry(path, mode, timeout, executed_to=executed)
        if entry["status"] == "ok":
            try:
                nb = recorded_outputs.recorded(committed, nbkit.read(executed), mode)
            except recorded_outputs.RecordingError as error:
                entry["status"] = f"failed: outputs not recorded: {error}"
            else:
                nbkit.write(nb, path)
                added = len(nbkit.text(nb).encode()) - len(nbkit.text(recorded_outputs.cleared(nb)).encode())
                log(f"  outputs written into {path.relative_to(REPO)} ({added / 1024:.0f} KiB of outputs)")
    return entry


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _round(value):
    return None if value is None else round(float(value), 1)


IMPORTS_ONLY = """import torch
import torchvision

import course_utils

RUN_MODE = None
"""


def measure_imports(mode: str, timeout: float | None) -> dict:
    """The same measurement of a notebook that only imports torch, torchvision and course_utils: the part
    of every peak that no notebook can avoid (it depends on the torch build, e.g. CUDA or CPU-only)."""
    import nbformat

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "imports_only.ipynb"
        params = nbformat.v4.new_code_cell("RUN_MODE = None", metadata={"tags": ["parameters"]})
        nbkit.write(nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(IMPORTS_ONLY)]), path)
        entry = measure(path, mode, timeout)
    torch = importlib.import_module("torch")
    return {"status": entry["status"], "peak_rss_mib": entry["peak_rss_mib"], "torch": torch.__version__,
            "torch_build": f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="numbers (01), stems or paths; default: all notebooks")
    parser.add_argument("--mode", choices=("smoke", "fast", "full"),
                        help="the run mode (required without --outputs; with it, default: each notebook's recording "
                             "mode)")
    parser.add_argument("--outputs", action="store_true",
                        help="write each run's outputs into its notebook (benchmarks/recorded_outputs.py), then render")
    parser.add_argument("--render", action="store_true",
                        help="then render the notebooks' runtime lines and README.md (python -m tools.sync_notebooks)")
    parser.add_argument("--timeout", type=float, default=None, help="per-cell timeout in seconds (default none)")
    args = parser.parse_args(argv)
    if args.mode is None and not args.outputs:
        parser.error("--mode is required (or --outputs, which runs each notebook in its recording mode)")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    failed, by_mode, modes = [], {}, set()
    for path in nbkit.select(args.notebooks):
        mode = args.mode or recorded_outputs.recording_mode(path.stem)
        carried = recorded_outputs.outputs_mode(nbkit.read(path))
        outputs = args.outputs or carried == mode  # outputs and measurement always come from the same run
        if args.outputs and mode == "fast" and recorded_outputs.recording_mode(path.stem) == "full":
            print(f"{path.name}: skipped: a full-mode (GPU) run of it is recorded, so its outputs come from full "
                  f"mode: python -m benchmarks.notebook_resources --outputs {path.stem[:2]} on a GPU machine")
            failed.append(path.name)
            continue
        if outputs and mode == "full" and not _cuda():
            print(f"{path.name}: skipped: its outputs come from full mode, which needs a GPU (none here)")
            failed.append(path.name)
            continue
        out = RESULTS_DIR / f"notebook_resources_{mode}.json"
        data = by_mode.get(mode) or (json.loads(out.read_text()) if out.exists() else {})
        by_mode[mode] = data
        modes.add(mode)
        data.setdefault("notebooks", {})
        data["mode"] = mode
        data["description"] = ("Measured by benchmarks/notebook_resources.py: wall time (kernel start included), "
                               "kernel peak RSS (getrusage), sampled peak RSS of kernel + workers, results reported; "
                               "code_sha256: the code that ran (tools.nbkit.code_hash).")
        print(f"{path.name}: running in {mode} mode{' (recording its outputs)' if outputs else ''} ...", flush=True)
        entry = record_outputs(path, mode, args.timeout) if outputs else measure_entry(path, mode, args.timeout)
        data["notebooks"][path.stem] = entry
        data["hardware"] = entry["hardware"]
        data["notebooks"] = dict(sorted(data["notebooks"].items()))
        out.write_text(json.dumps(data, indent=2) + "\n")  # after each notebook: nothing lost on Ctrl-C
        print(f"  {entry['status']}: {entry['seconds']} s, kernel peak {entry['peak_rss_mib']} MiB, "
              f"kernel+workers peak {entry['tree_peak_rss_mib']} MiB", flush=True)
        if entry["status"] != "ok":
            failed.append(path.name)
    for mode in sorted(modes):
        out = RESULTS_DIR / f"notebook_resources_{mode}.json"
        print(f"imports only (torch, torchvision, course_utils), {mode} mode ...", flush=True)
        by_mode[mode]["imports_only"] = measure_imports(mode, args.timeout)
        out.write_text(json.dumps(by_mode[mode], indent=2) + "\n")
        print(f"  {by_mode[mode]['imports_only']}", flush=True)
        print(f"wrote {out.relative_to(REPO)}")
    if args.render or args.outputs:  # the Korean edition too: it carries the same outputs and runtimes
        changed, stale = sync_notebooks.render_all()
        print("rendered: " + (", ".join(changed) if changed else "nothing changed"))
        if stale:
            print("Korean edition not regenerated (stale translations):\n" + "\n".join(stale))
    if failed:
        print("FAILED:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
