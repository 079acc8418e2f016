"""Measure what each notebook costs in one run mode: wall time, peak memory, and the results it reports.

    python benchmarks/notebook_resources.py --mode smoke                 # every notebooks/NN_*.ipynb
    python benchmarks/notebook_resources.py --mode fast 01 03            # some notebooks (by number or path)
    python benchmarks/notebook_resources.py --mode fast --update-headers # ... and write the runtimes into
                                                                         # the notebooks and README.md
    python benchmarks/notebook_resources.py --mode full --update-headers # on a GPU machine

Each notebook is executed headless with papermill (``RUN_MODE`` injected, working directory
notebooks/, like the tests), with one extra cell appended to the executed copy that reports, from
inside the kernel:

- ``peak_rss_mib``: the kernel's peak resident memory (``getrusage(RUSAGE_SELF).ru_maxrss``);
- ``children_peak_rss_mib``: the largest peak of the kernel's finished child processes
  (DataLoader workers), or 0;
- ``gpu_peak_mib``: ``torch.cuda.max_memory_allocated()`` when a GPU was used.

A sampler in this process also records ``tree_peak_rss_mib``, the largest sum of resident memory of
the kernel and its child processes seen every 0.5 s (it counts pages that forked workers share with
the kernel more than once, so it is an upper bound). Wall time includes starting the kernel.

Results are merged into benchmarks/results/notebook_resources_<mode>.json (one entry per notebook,
each with the hardware it ran on), so notebooks can be measured one at a time. mybinder.org gives
2 GB of memory: tests/test_launch.py checks fast mode's ``peak_rss_mib`` against it.

``--update-headers`` rewrites, for every notebook measured in this run, the
``**Runtime** (measured): ...`` line of its first cell (only this mode's number), then regenerates
README.md's tables (tools/readme_table.py). Commit the JSON, the notebooks and README together.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import readme_table  # noqa: E402
import sync_notebooks  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
PROBE_MIMETYPE = "application/vnd.course-resources+json"
RESULTS_MIMETYPE = "application/vnd.course-results+json"  # course_utils.results.RESULTS_MIMETYPE
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


def human_seconds(seconds: float) -> str:
    """Rounded for a header: '8 s', '25 s', '1.5 min', '12 min'."""
    if seconds < 10:
        return f"{max(1, round(seconds))} s"
    if seconds < 60:
        return f"{5 * round(seconds / 5)} s"
    if seconds < 600:
        minutes = round(seconds / 30) / 2
        return f"{minutes:g} min"
    return f"{round(seconds / 60)} min"


def measure(path: Path, mode: str, timeout: float | None) -> dict:
    import papermill

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    with tempfile.TemporaryDirectory() as tmp:
        source, executed = Path(tmp) / f"probe_{path.name}", Path(tmp) / path.name
        nbformat.write(nb, source)
        sampler = TreeSampler()
        sampler.start()
        start = time.perf_counter()
        error = None
        try:
            papermill.execute_notebook(str(source), str(executed), parameters={"RUN_MODE": mode},
                                       cwd=str(path.parent), kernel_name="python3", progress_bar=False,
                                       execution_timeout=timeout)
        except Exception as exc:  # keep measuring the other notebooks; report it
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        seconds = time.perf_counter() - start
        tree_peak = sampler.stop()
        ran = nbformat.read(executed, as_version=4) if executed.exists() else None
    probe, results = {}, {}
    for cell in ran.cells if ran else []:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            probe.update(data.get(PROBE_MIMETYPE, {}))
            results.update(data.get(RESULTS_MIMETYPE, {}))
    entry = {
        "status": "ok" if error is None else f"failed: {error}",
        "seconds": round(seconds, 1),
        "runtime": human_seconds(seconds),
        "peak_rss_mib": _round(probe.get("peak_rss_mib")),
        "children_peak_rss_mib": _round(probe.get("children_peak_rss_mib")),
        "tree_peak_rss_mib": _round(tree_peak),
        "gpu": probe.get("gpu"),
        "gpu_peak_mib": _round(probe.get("gpu_peak_mib")),
        "results": results,
    }
    return entry


def _round(value):
    return None if value is None else round(float(value), 1)


def resolve(names: list[str]) -> list[Path]:
    every = readme_table.notebooks()
    if not names:
        return every
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.exists():
            chosen.append(path.resolve())
            continue
        found = [p for p in every if p.stem == name or p.name.startswith(f"{name}_")]
        if len(found) != 1:
            raise SystemExit(f"no single notebook matches {name!r} (have: {', '.join(p.stem for p in every)})")
        chosen.extend(found)
    return chosen


def update_header(path: Path, mode: str, entry: dict) -> bool:
    """Write this mode's measured runtime into the notebook's ``**Runtime** (measured):`` line."""
    nb = nbformat.read(path, as_version=4)
    header = sync_notebooks._source(nb.cells[0])
    parts = readme_table.parse_runtime(header)
    hw = entry["hardware"]
    if mode == "smoke":
        parts["smoke"] = entry["runtime"]
    elif mode == "fast":
        parts["fast"], parts["cpu"] = entry["runtime"], f"{hw['cpu_count']}-core CPU"
    else:
        parts["full"], parts["gpu"] = entry["runtime"], entry.get("gpu") or f"{hw['cpu_count']}-core CPU (no GPU)"
        parts["note"] = None
    line = readme_table.format_runtime(parts)
    if readme_table.RUNTIME_LINE.search(header):
        new = readme_table.RUNTIME_LINE.sub(lambda _: line, header, count=1)
    else:
        new = header.rstrip("\n") + "\n\n" + line
    if new == header:
        return False
    nb.cells[0].source = new
    text = nbformat.writes(nb)
    path.write_text(text + ("" if text.endswith("\n") else "\n"))
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="numbers (01), stems or paths; default: all notebooks")
    parser.add_argument("--mode", choices=("smoke", "fast", "full"), required=True)
    parser.add_argument("--update-headers", action="store_true",
                        help="write the measured runtimes into the notebooks' first cells and README.md")
    parser.add_argument("--timeout", type=float, default=None, help="per-cell timeout in seconds (default none)")
    args = parser.parse_args(argv)

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"notebook_resources_{args.mode}.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    data.setdefault("notebooks", {})
    data["mode"] = args.mode
    data["description"] = ("Measured by benchmarks/notebook_resources.py: wall time (kernel start included), "
                           "kernel peak RSS (getrusage), sampled peak RSS of kernel + workers, results reported.")
    failed = []
    for path in resolve(args.notebooks):
        hw = hardware()  # per notebook: the load average tells whether the machine was busy
        print(f"{path.name}: running in {args.mode} mode ...", flush=True)
        entry = measure(path, args.mode, args.timeout)
        entry["hardware"] = dict(hw, gpu=entry.get("gpu"))
        entry["measured_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        data["notebooks"][path.stem] = entry
        data["hardware"] = entry["hardware"]
        data["notebooks"] = dict(sorted(data["notebooks"].items()))
        out.write_text(json.dumps(data, indent=2) + "\n")  # after each notebook: nothing lost on Ctrl-C
        print(f"  {entry['status']}: {entry['seconds']} s, kernel peak {entry['peak_rss_mib']} MiB, "
              f"kernel+workers peak {entry['tree_peak_rss_mib']} MiB", flush=True)
        if entry["status"] != "ok":
            failed.append(path.name)
        elif args.update_headers and update_header(path, args.mode, entry):
            print(f"  updated the runtime line of {path.name}")
    print(f"wrote {out.relative_to(REPO)}")
    if args.update_headers:
        readme_table.main([])
        print("regenerated README.md's tables")
    if failed:
        print("FAILED:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
