"""The outputs a committed notebook shows: those of one real run, its measurement, cleaned for the repository.

    python -m benchmarks.notebook_resources --outputs 01 03   # run, measure and write the outputs (see there)

A notebook in ``notebooks/`` either carries no outputs (only its ``# NBVAL_CHECK_OUTPUT`` cells keep theirs)
or the outputs of one complete run, recorded by ``benchmarks/notebook_resources.py --outputs`` in the
notebook's recording mode (:func:`recording_mode`: full mode where a full-mode (GPU) measurement of the
notebook exists, else fast mode on the CPU). That run is also the notebook's measurement in
``benchmarks/results/notebook_resources_<mode>.json``, whose entry keeps a hash of the notebook's code
(:func:`tools.nbkit.code_hash`), and the notebook's metadata says which mode (``metadata.course.outputs``).
The title cell's runtime line says which run the outputs come from (``tools/runtimes.py``).

:func:`recorded` turns the executed copy into the committed notebook: the committed cells, metadata and ids
with the run's outputs, and

- no volatile metadata (execution timestamps, papermill's metadata, the injected-parameters cell, the
  measurement's probe cell), execution counts numbered from 1;
- no absolute paths of the recording machine: the data root, the repository, site-packages, the temporary
  folder and the home folder are written ``<data root>``, ``<repository>``, ``<site-packages>``, ``<tmp>``, ``~``;
- no warnings of the recording setup (the unverified-data warning of ``COURSE_ALLOW_UNVERIFIED_DATA``);
- progress bars in their final state: a text bar rewritten with ``\\r`` keeps its last state, a tqdm widget
  becomes the text of its final state (one closed with ``leave=False`` disappears, as in a front end);
  other widgets keep their state (the course website shows them);
- figures re-encoded as 256-colour PNGs when that is smaller (plots have few colours; ``PNG_COLOURS``).

:func:`problems` is the test's view (tests/test_notebooks.py): what is wrong with a committed notebook's outputs.
"""
from __future__ import annotations

import base64
import copy
import html
import io
import os
import re
import sysconfig
import tempfile
from pathlib import Path

from benchmarks.records import measured
from tools import execute, nbkit, smoke_checks
from tools.paths import NOTEBOOK_DIR, REPO, RESULTS_DIR

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PNG_COLOURS = 256
# Warnings that the recording machine's setup causes and a student's run does not: the data root of CI and of
# the recording machine holds re-encoded CIFAR copies, loaded with COURSE_ALLOW_UNVERIFIED_DATA=1.
SETUP_WARNINGS = (
    re.compile(r"^[^\n]*Warning: [^\n]*(?:UNVERIFIED|COURSE_ALLOW_UNVERIFIED_DATA)[^\n]*\n(?:  [^\n]*\n)?", re.M),
)
COMMAND = "python -m benchmarks.notebook_resources --outputs {number}"


class RecordingError(ValueError):
    """The run cannot be committed as the notebook's outputs; the message says why and what to do."""


# -- which run a notebook shows -----------------------------------------------------------------------------

def recording_mode(stem: str, results_dir: Path = RESULTS_DIR, notebook_dir: Path = NOTEBOOK_DIR) -> str:
    """``full`` where a full-mode (GPU) measurement of notebook ``stem`` exists for its current code, else ``fast``.

    A full-mode record of older code (the notebook changed since the GPU run) does not count: until a GPU run of
    the current code exists, a reader is better served by fresh fast-mode outputs than by none."""
    entry = measured(stem, "full", results_dir)
    if not entry:
        return "fast"
    path = Path(notebook_dir) / f"{stem}.ipynb"
    return "full" if path.is_file() and entry.get("code_sha256") == nbkit.code_hash(nbkit.read(path)) else "fast"


def outputs_mode(nb) -> str | None:
    """The mode of the run whose outputs notebook ``nb`` carries (``metadata.course.outputs.mode``), or None."""
    return ((nb.metadata.get("course") or {}).get("outputs") or {}).get("mode")


def has_outputs(nb) -> bool:
    """Whether any code cell other than a ``# NBVAL_CHECK_OUTPUT`` cell carries outputs or an execution count."""
    return any((cell.get("outputs") or cell.get("execution_count")) and nbkit.CHECKED_OUTPUT not in nbkit.source(cell)
               for cell in nbkit.code_cells(nb))


# -- cleaning -----------------------------------------------------------------------------------------------

def machine_paths(data_root: str | None = None) -> list[tuple[str, str]]:
    """``(absolute path, placeholder)`` of the recording machine, longest first (a path inside another wins)."""
    found = {
        data_root or os.environ.get("COURSE_DATA_ROOT") or "": "<data root>",
        str(REPO): "<repository>",
        sysconfig.get_path("purelib"): "<site-packages>",
        sysconfig.get_path("stdlib"): "<python>",
        tempfile.gettempdir(): "<tmp>",
        str(Path.home()): "~",
    }
    return sorted(((path.rstrip("/"), name) for path, name in found.items() if len(path.rstrip("/")) > 1),
                  key=lambda pair: -len(pair[0]))


def without_machine(text: str, paths: list[tuple[str, str]]) -> str:
    for path, name in paths:
        text = text.replace(path, name)
    return text


def final_state(text: str) -> str:
    """A text progress bar in its final state: of each line rewritten with ``\\r``, only its last version."""
    lines = []
    for line in text.split("\n"):
        versions = [part for part in line.split("\r") if part]
        lines.append(versions[-1] if versions else "")
    return "\n".join(lines)


def _children(state: dict, model_id: str) -> set[str]:
    """``model_id`` and every model it refers to (children, layouts, styles), recursively."""
    seen, todo = set(), [model_id]
    while todo:
        current = todo.pop()
        if current in seen or current not in state:
            continue
        seen.add(current)
        text = repr(state[current].get("state", {}))
        todo += re.findall(r"IPY_MODEL_([0-9a-f]+)", text)
    return seen


def tqdm_text(state: dict, model_id: str) -> str | None:
    """The final text of the tqdm progress bar shown by widget ``model_id`` ('' when it was closed, as a bar
    with ``leave=False`` is); None when the widget is not a tqdm bar."""
    model = state.get(model_id) or {}
    children = [c.removeprefix("IPY_MODEL_") for c in model.get("state", {}).get("children", [])]
    if model.get("model_name") != "HBoxModel" or len(children) != 3:
        return None
    left, bar, right = (state.get(c, {}) for c in children)
    if (left.get("model_name"), right.get("model_name")) != ("HTMLModel", "HTMLModel") \
            or bar.get("model_name") not in ("FloatProgressModel", "IntProgressModel"):
        return None
    if bar["state"].get("bar_style") == "":  # tqdm closes a finished bar with leave=False: the front end hides it
        return ""
    value, top = bar["state"].get("value", 0), bar["state"].get("max") or 1
    filled = max(0, min(10, round(10 * value / top)))

    def plain(model):
        return html.unescape(model["state"].get("value", "")).replace("\u2007", " ")

    return f"{plain(left)}|{'█' * filled}{' ' * (10 - filled)}|{plain(right)}\n"


def smaller_png(data: str) -> str:
    """The base64 PNG ``data`` re-encoded with at most ``PNG_COLOURS`` colours, when that is smaller."""
    from PIL import Image

    raw = base64.b64decode(data)
    with Image.open(io.BytesIO(raw)) as image:
        image.load()
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        quantized = rgb.quantize(colors=PNG_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        out = io.BytesIO()
        quantized.save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode() if out.tell() < len(raw) else data


def _clean_text(value, paths):
    if isinstance(value, list):
        value = "".join(value)
    return without_machine(value, paths)


def _clean_outputs(outputs: list, state: dict, paths: list, dropped_widgets: set) -> list:
    cleaned = []
    for output in copy.deepcopy(list(outputs)):
        kind = output.get("output_type")
        if kind == "stream":
            text = final_state(_clean_text(output.get("text", ""), []))
            for pattern in SETUP_WARNINGS:
                text = pattern.sub("", text)
            output["text"] = without_machine(text, paths)
        elif kind in ("display_data", "execute_result"):
            data = output.get("data", {})
            view = data.get(WIDGET_VIEW)
            if view and (text := tqdm_text(state, view.get("model_id", ""))) is not None:
                dropped_widgets.add(view["model_id"])
                output = {"output_type": "stream", "name": "stderr", "text": text}
            else:
                for mimetype in list(data):
                    if mimetype.startswith("text/") or mimetype == "image/svg+xml":
                        data[mimetype] = _clean_text(data[mimetype], paths)
                    elif mimetype == "image/png":
                        data[mimetype] = smaller_png(_clean_text(data[mimetype], []))
        elif kind == "error":
            output["evalue"] = without_machine(output.get("evalue", ""), paths)
            output["traceback"] = [without_machine(line, paths) for line in output.get("traceback", [])]
        if output.get("output_type") == "stream":
            if not output["text"]:
                continue
            if cleaned and cleaned[-1].get("output_type") == "stream" and cleaned[-1].get("name") == output["name"]:
                cleaned[-1]["text"] += output["text"]  # one stream output, however the kernel chunked it
                continue
        cleaned.append(output)
    return cleaned


def recorded(committed, executed, mode: str, data_root: str | None = None):
    """The committed notebook ``committed`` with the outputs of ``executed`` (a run of it in ``mode``), cleaned
    (see the module's docstring). Raises :class:`RecordingError` when the run cannot be committed: a cell
    failed or did not run, or a ``# NBVAL_CHECK_OUTPUT`` cell printed something else than its committed
    output (the smoke test would then fail)."""
    import nbformat

    error = execute.first_error(executed)
    if error:
        raise RecordingError(f"the run failed at {error['where']}: fix it before recording outputs")
    nb = copy.deepcopy(committed)
    ran = {cell.get("id"): cell for cell in executed.cells}
    state = ((executed.metadata.get("widgets") or {}).get(WIDGET_STATE) or {}).get("state") or {}
    paths = machine_paths(data_root)
    dropped: set[str] = set()
    count = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("id") not in ran:
            raise RecordingError(f"cell {index} (id {cell.get('id')}) is missing from the run")
        source = ran[cell.id]
        if source.get("execution_count") is None:
            raise RecordingError(f"cell {index} (id {cell.id}) did not run")
        count += 1
        cell.execution_count = count
        cell.outputs = [nbformat.from_dict(o) for o in _clean_outputs(source.get("outputs", []), state, paths, dropped)]
        for output in cell.outputs:
            if output.get("output_type") == "execute_result":
                output["execution_count"] = count
    checked = smoke_checks.checked_output_mismatches(committed, nb)
    if checked and not has_outputs(committed):
        raise RecordingError(
            f"a # NBVAL_CHECK_OUTPUT cell printed something else in {mode} mode than its committed (smoke-mode) "
            "output, and the smoke test compares it: make the cell print the same in every mode.\n"
            + "\n".join(checked))
    kept_state = {}
    if state:
        gone = set().union(*(_children(state, model) for model in dropped)) if dropped else set()
        shown = {o["data"][WIDGET_VIEW]["model_id"] for c in nbkit.code_cells(nb) for o in c.outputs
                 if WIDGET_VIEW in o.get("data", {})}
        keep = set().union(*(_children(state, model) for model in shown)) if shown else set()
        kept_state = {key: copy.deepcopy(value) for key, value in state.items()
                      if key in keep and key not in gone - keep}
        for model in kept_state.values():  # an ipywidgets.Output keeps what was drawn in it: clean it the same way
            if model.get("model_name") == "OutputModel" and model.get("state", {}).get("outputs"):
                model["state"]["outputs"] = _clean_outputs(model["state"]["outputs"], state, paths, set())
    nb.metadata.pop("widgets", None)
    if kept_state:
        nb.metadata["widgets"] = {WIDGET_STATE: {"state": kept_state, "version_major": 2, "version_minor": 0}}
    nb.metadata.setdefault("course", {})["outputs"] = {"mode": mode}
    return nb


def cleared(nb):
    """``nb`` without recorded outputs: only the ``# NBVAL_CHECK_OUTPUT`` cells keep theirs."""
    nb = copy.deepcopy(nb)
    for cell in nbkit.code_cells(nb):
        if nbkit.CHECKED_OUTPUT not in nbkit.source(cell):
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    (nb.metadata.get("course") or {}).pop("outputs", None)
    if nb.metadata.get("course") == {}:
        del nb.metadata["course"]
    return nb


# -- the test's view ------------------------------------------------------------------------------------------

VOLATILE_CELL_METADATA = ("execution", "papermill", "collapsed", "scrolled")
FORBIDDEN_TEXT = (("COURSE_ALLOW_UNVERIFIED_DATA", "the unverified-data warning of the recording setup"),
                  ("UNVERIFIED", "the unverified-data warning of the recording setup"))


def _texts(nb):
    """``(cell index, text)`` of every text an output shows (streams, text/*, errors)."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "stream":
                yield index, _clean_text(output.get("text", ""), [])
            elif output.get("output_type") == "error":
                yield index, output.get("evalue", "") + "\n".join(output.get("traceback", []))
            for mimetype, value in output.get("data", {}).items():
                if mimetype.startswith("text/"):
                    yield index, _clean_text(value, [])


def problems(nb, stem: str, results_dir: Path = RESULTS_DIR, paths: list | None = None) -> list[str]:
    """What is wrong with notebook ``nb``'s outputs (``stem``: its name, ``NN_name``); empty when it carries none
    (only its ``# NBVAL_CHECK_OUTPUT`` cells have theirs) or a complete run that matches its record."""
    command = COMMAND.format(number=stem[:2])
    volatile = [f"cell {i}: {key}" for i, cell in enumerate(nb.cells) for key in VOLATILE_CELL_METADATA
                if key in cell.get("metadata", {})]
    volatile += [f"notebook metadata: {key}" for key in ("papermill",) if key in nb.metadata]
    found = [f"volatile metadata (strip it; recording does): {', '.join(volatile)}"] if volatile else []
    mode = outputs_mode(nb)
    if not has_outputs(nb):
        if mode:
            found.append(f"metadata.course.outputs says outputs of a {mode}-mode run, but there are none")
        return found
    if mode is None:
        return found + [f"{stem} carries outputs that were not recorded by {command} (metadata.course.outputs is "
                        "missing): clear them, or record them with that command"]
    unrun = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.get("execution_count") is None]
    if unrun:
        found.append(f"cells {unrun} were not run: the outputs must come from one complete run ({command})")
    errors = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
              and any(o.get("output_type") == "error" for o in cell.get("outputs", []))]
    if errors:
        found.append(f"cells {errors} show an error")
    entry = measured(stem, mode, results_dir)
    if entry is None:
        return found + [f"the outputs come from a {mode}-mode run, but benchmarks/results/"
                        f"notebook_resources_{mode}.json has no successful entry for {stem}: record again ({command})"]
    if entry.get("code_sha256") != nbkit.code_hash(nb):
        found.append(f"{stem}'s outputs are stale: a code cell changed since the recorded {mode}-mode run "
                     f"({entry.get('measured_at', '?')}). Record them again: {command}"
                     + (" (on a GPU machine)" if mode == "full" else ""))
    reported = nbkit.results(nb)
    if reported != entry.get("results"):
        found.append(f"the results {stem}'s outputs report differ from its record in benchmarks/results/"
                     f"notebook_resources_{mode}.json: record again ({command})")
    for index, text in _texts(nb):
        for path, name in (paths if paths is not None else machine_paths()):
            if path in text and name != "~":
                found.append(f"cell {index}: an absolute path of the recording machine ({path}) is shown")
        if str(Path.home()) + "/" in text:
            found.append(f"cell {index}: a path in the recording machine's home folder is shown")
        if re.search(r"(?<![\w<])/tmp/", text):
            found.append(f"cell {index}: a temporary folder of the recording machine (/tmp/...) is shown")
        for needle, what in FORBIDDEN_TEXT:
            if needle in text:
                found.append(f"cell {index}: {what} is shown")
                break
        if "\r" in text:
            found.append(f"cell {index}: a progress bar is shown in more than its final state (\\r)")
    for cell in nbkit.code_cells(nb):
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            state = ((nb.metadata.get("widgets") or {}).get(WIDGET_STATE) or {}).get("state") or {}
            if view and tqdm_text(state, view.get("model_id", "")) is not None:
                found.append("a tqdm progress widget is kept: record again (its final state is written as text)")
    return sorted(set(found), key=found.index)
