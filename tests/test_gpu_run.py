"""benchmarks/gpu_run.py rehearsed on the CPU, so that a GPU window is spent measuring, not debugging.

- the dry run: the plan of the real work fits the device tool's limits (carry with the working tree, command
  length, carried paths, command time, a session's device time), in the issue's order;
- the wheel set: pinned to CI's versions, nothing the GPU machine already has, no requirement left dangling;
- one notebook (09, Fashion-MNIST only) in smoke mode through ``device`` exactly as a GPU command runs it:
  data materialized from a packed folder, the notebook stopped at its time budget, then run, then skipped
  (resumed) for the same code, and merged into a copy of the results files;
- the speed benchmark's variants, a compiled variant and the profile, tiny on the CPU through ``device``.
No timing is asserted: CPU numbers from tiny runs mean nothing.
"""
import gzip
import json
import os
import shutil
import subprocess
import tarfile
import zipfile

import pytest

import course_utils as cu
from benchmarks import cifar10_speed, gpu_run
from tools.paths import REPO

SHARED = gpu_run.shared_datasets()
DEVICE_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "COURSE_DATA_ROOT", "COURSE_ALLOW_UNVERIFIED_DATA",
              "PYTHONUNBUFFERED")


def _need_shared():
    if not (SHARED / "materialize.py").is_file():
        pytest.skip(f"the offline dataset copies are not at {SHARED} (set COURSE_SHARED)")


def _protect_env(monkeypatch):
    """device() sets these for its child processes: restore them after the test."""
    for name in DEVICE_ENV:
        present = os.environ.get(name)
        monkeypatch.setenv(name, present or "placeholder")  # recorded: restored after the test
        if present is None:
            monkeypatch.delenv(name)


# -- the dry run ---------------------------------------------------------------------------------------------

def test_plan_of_the_real_work_fits_the_device_limits(tmp_path):
    _need_shared()
    results = tmp_path / "results"  # the recorded runs (their times are estimates), none for the current code
    results.mkdir()
    for name in ("notebook_resources_full.json", "cifar10_speed.json"):
        data = json.loads((gpu_run.RESULTS / name).read_text())
        for entry in [*(data.get("notebooks") or {}).values(), *(data.get("variants") or {}).values()]:
            entry.pop("code", None)
        data.pop("profile", None)
        (results / name).write_text(json.dumps(data))
    report = gpu_run.plan_report(results, pack=tmp_path / "not-packed")  # sizes: shared folder and manifest
    assert report["problems"] == []
    commands = report["commands"]
    planned = [w["key"] for c in commands for w in c["work"]]
    assert sorted(planned) == sorted(w.key for w in gpu_run.WORK), "every piece of work, each exactly once"
    order = [w.key for w in gpu_run.WORK]
    first_keys = [c["work"][0]["key"] for c in commands if c["work"]]
    assert first_keys == sorted(first_keys, key=order.index), "commands start in the issue's order of the work"
    for c in commands:
        run = c["run"]
        assert len(run["command"]) <= gpu_run.COMMAND_CHARS
        assert len(run["carry"]) <= gpu_run.CARRY_PATHS
        assert c["total_bytes"] <= gpu_run.CARRY_LIMIT
        assert c["budget_s"] <= gpu_run.MAX_BUDGET_S
        assert c["budget_s"] + c["setup_s"] < run["timeout_s"] <= gpu_run.COMMAND_LIMIT_S - 50
        assert all(path.startswith(".gpu_run/") for path in run["carry"])
        assert f"--tag {c['tag']}" in run["command"] and '"$OUT"' in run["command"]
        subprocess.run(["bash", "-n", "-c", run["command"]], check=True)  # valid shell
    for session in report["windows"]:
        used = sum(commands[i]["device_s"] for i in session)
        assert used + gpu_run.START_S + gpu_run.END_S <= gpu_run.SESSION_S
    # 06 needs CIFAR-10 and CIFAR-100, which never fit one carry: right after a command that materializes CIFAR-100
    six = next(i for i, c in enumerate(commands) if any(w["key"] == "06" for w in c["work"]))
    assert commands[six]["needs_warm_machine_with"] == ["cifar100"]
    assert ".gpu_run/data/cifar100" in commands[six - 1]["run"]["carry"]
    assert any(six - 1 in s and six in s for s in report["windows"]), "both in the same session"
    # what the commands carry is git-ignored (only carried paths travel besides the tree)
    ignored = subprocess.run(["git", "check-ignore", ".gpu_run/wheels", ".gpu_run/data/cifar10"], cwd=gpu_run.REPO,
                             capture_output=True, text=True)
    assert ignored.stdout.split() == [".gpu_run/wheels", ".gpu_run/data/cifar10"]


def test_plan_reports_what_breaks_a_limit():
    mib = gpu_run.MIB
    size = {"tree": 2 * mib, "wheels": 5 * mib, "packed": {}, **{f"d{i}": 10 * mib for i in range(8)}}
    work = gpu_run.Work("02", ("d0",), 10, "planted")
    command = gpu_run.Command([(work, 10, "planted")] * 400, [f"d{i}" for i in range(8)], [], 300)
    problems = gpu_run.check_command(command, size)
    assert any("characters" in p for p in problems)
    assert any("9 carried paths" in p for p in problems)
    assert any("MiB with the working tree" in p for p in problems)
    assert gpu_run.check_command(gpu_run.Command([(work, 10, "planted")], ["d0"], [], 300), size) == []
    too_long = gpu_run.check_command(gpu_run.Command([(work, 10, "planted")], ["d0"], [], 590), size)
    assert too_long == [f"timeout_s {590 + 2 * (15 + 30) + 30} (at most 600)"]
    huge = dict(size, d0=70 * mib)
    with pytest.raises(gpu_run.RunbookError, match="none of its data sets fits"):
        gpu_run.plan([work], {}, huge)


def test_plan_skips_what_is_recorded_for_the_current_code(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(gpu_run.RESULTS, results)
    path = gpu_run.notebook_path("02")
    data = json.loads((results / "notebook_resources_full.json").read_text())
    entry = {"status": "ok", "seconds": 50.0, "gpu": "NVIDIA H100", "code": gpu_run.notebook_code(path)}
    data["notebooks"][path.stem] = entry
    (results / "notebook_resources_full.json").write_text(json.dumps(data))
    todo, notes = gpu_run.remaining(results)
    assert "02" not in [w.key for w in todo] and notes["02"].startswith("done")
    data["notebooks"][path.stem] = dict(entry, code=dict(entry["code"], notebook_code_sha256="0" * 16))
    (results / "notebook_resources_full.json").write_text(json.dumps(data))  # the notebook's code changed since
    todo, notes = gpu_run.remaining(results)
    assert "02" in [w.key for w in todo] and "other code" in notes["02"]


def test_estimate_takes_the_longer_of_a_recorded_run_and_a_guess(tmp_path):
    """A recorded GPU run of older code can be shorter than what the code does now (08 trains 3 seeds since);
    the guess, written for the current code, then wins. A stopped attempt wins over both."""
    work = gpu_run.Work("08", ("fashion_mnist",), 330, "guess: 3 seeds now")
    stem = gpu_run.notebook_path("08").stem
    short = {stem: {"status": "ok", "seconds": 120.0, "gpu": "NVIDIA H200", "measured_at": "2026-11-26"}}
    seconds, basis = gpu_run.estimate(work, short)
    assert seconds == 330 and "guess: 3 seeds now" in basis and "120 s" in basis
    long = {stem: dict(short[stem], seconds=400.0)}
    assert gpu_run.estimate(work, long) == (440, "recorded 400 s on NVIDIA H200 (2026-11-26), +10%")
    stopped = {stem: dict(short[stem], last_attempt={"stopped_at_budget": True, "seconds": 300.0})}
    assert gpu_run.estimate(work, stopped)[0] == 450
    assert gpu_run.estimate(work, {}) == (330, "guess: 3 seeds now")


# -- the wheels ----------------------------------------------------------------------------------------------

def test_wheels_are_pinned_to_ci_and_not_already_on_the_gpu_machine(tmp_path):
    assert gpu_run.manifest_problems() == []
    total = sum(r["bytes"] for r in gpu_run.manifest())
    assert total < 8 * gpu_run.MIB, "the wheels must leave room for the CIFAR-100 archive in one carry"
    lines = gpu_run.MANIFEST.read_text().splitlines()
    planted = tmp_path / "gpu_wheels.txt"
    row = next(line for line in lines if line.startswith("papermill=="))
    planted.write_text("\n".join([*lines, row.replace("papermill==", "tqdm=="), row.replace("papermill==", "jedi==")])
                       + "\n")
    pins = dict(gpu_run.constraints(), papermill="0.1")
    assert gpu_run.manifest_problems(planted, pins) == [
        "papermill 2.7.0: CI pins 0.1 (python -m benchmarks.gpu_run manifest)",
        f"tqdm 2.7.0: CI pins {pins['tqdm']} (python -m benchmarks.gpu_run manifest)",
        "jedi 2.7.0: CI pins 0.20.1 (python -m benchmarks.gpu_run manifest)",
        "tqdm is on the GPU machine already", "jedi is in LEFT_OUT"]


def _wheel(folder, name, requires):
    path = folder / f"{name}-1.0-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-1.0.dist-info/METADATA", meta + "\nA description.\n")
    return path


def test_missing_requirements_are_found(tmp_path):
    ok = [_wheel(tmp_path, "alpha", ["beta>=1", "torch", "debugpy", "tomli; python_version < '3.11'",
                                     "pytest; extra == 'test'", "colorama; sys_platform == 'win32'"]),
          _wheel(tmp_path, "beta", [])]
    assert gpu_run.missing_requirements(ok) == []
    planted = _wheel(tmp_path, "gamma", ["zeta-pkg", "alpha"])
    assert gpu_run.missing_requirements([*ok, planted]) == ["gamma needs zeta-pkg"]
    on_310 = gpu_run.missing_requirements(ok, python="3.10")
    assert on_310 == ['alpha needs tomli; python_version < "3.11"']


# -- on the "GPU machine" ----------------------------------------------------------------------------------

def _device(out, tmp_path, budget, *extra):
    return gpu_run.main(["device", "--out", str(out), "--tag", "t", "--budget", str(budget), "--mode", "smoke",
                         "--pack-dir", str(tmp_path / "pack"), "--data-root", str(tmp_path / "data"),
                         "--results-dir", str(tmp_path / "results"), *extra])


def test_device_runs_a_notebook_stops_it_at_its_budget_resumes_and_merges(tmp_path, monkeypatch, capsys):
    _need_shared()
    _protect_env(monkeypatch)
    shutil.copytree(gpu_run.RESULTS, tmp_path / "results")
    gpu_run.pack(["fashion_mnist"], wheels=False, pack_dir=tmp_path / "pack")
    path = gpu_run.notebook_path("09")
    state = ["--state-dir", str(tmp_path / "state"), "--items", "09"]

    # a budget too short: the notebook is stopped (kernel and all), and that is recorded
    assert _device(tmp_path / "out1", tmp_path, 2, *state, "--data", "fashion_mnist") == 1
    assert (tmp_path / "data" / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte").is_file()
    stopped = json.loads((tmp_path / "out1" / "notebooks-t.json").read_text())["notebooks"][path.stem]
    assert stopped["status"].startswith("failed: stopped at the command's time budget") and stopped["stopped_at_budget"]

    # enough time: measured, with the hashes of its code; the executed notebook comes back too
    assert _device(tmp_path / "out2", tmp_path, 600, *state) == 0
    output = json.loads((tmp_path / "out2" / "notebooks-t.json").read_text())
    entry = output["notebooks"][path.stem]
    assert output["mode"] == "smoke" and entry["status"] == "ok", entry["status"]
    assert entry["code"] == gpu_run.notebook_code(path)
    assert entry["results"]["run_mode"] == "smoke" and entry["runbook"]["omp_num_threads"] >= 1
    with tarfile.open(tmp_path / "out2" / "executed-t.tar.gz") as archive:
        assert archive.getnames() == [path.name]

    # the same code again on the same machine: skipped
    capsys.readouterr()
    assert _device(tmp_path / "out3", tmp_path, 600, *state) == 0
    assert "already recorded for this code, skipped" in capsys.readouterr().out
    assert not (tmp_path / "out3" / "notebooks-t.json").exists()

    # merged (a failed attempt never replaces a finished run), then skipped on a fresh machine too
    lines = gpu_run.merge([tmp_path / "out2"], tmp_path / "results", tmp_path / "artifacts")
    assert any(f"{path.stem} <- ok" in line for line in lines)
    gpu_run.merge([tmp_path / "out1"], tmp_path / "results", tmp_path / "artifacts")
    merged = json.loads((tmp_path / "results" / "notebook_resources_smoke.json").read_text())["notebooks"][path.stem]
    assert merged["status"] == "ok" and merged["code"] == entry["code"]
    assert merged["last_attempt"]["status"].startswith("failed: stopped")
    assert (tmp_path / "artifacts" / "executed-t" / path.name).is_file()
    todo, _ = gpu_run.remaining(tmp_path / "results", mode="smoke")
    assert "09" not in [w.key for w in todo]
    capsys.readouterr()
    assert _device(tmp_path / "out4", tmp_path, 600, "--state-dir", str(tmp_path / "fresh"), "--items", "09") == 0
    assert "already recorded for this code, skipped" in capsys.readouterr().out


def test_device_runs_the_speed_variants_and_the_profile(tmp_path, monkeypatch):
    try:
        cu.load_cifar10(train=False, download=False)
    except cu.DatasetNotAvailableError as error:
        pytest.skip(f"CIFAR-10 not available: {error}")
    _protect_env(monkeypatch)
    shutil.copytree(gpu_run.RESULTS, tmp_path / "results")
    args = ["--out", str(tmp_path / "out"), "--tag", "s", "--budget", "300", "--items", "speed", "--mode", "smoke",
            "--pack-dir", str(tmp_path / "pack"), "--data-root", str(cu.data_root()), "--state-dir",
            str(tmp_path / "state"), "--results-dir", str(tmp_path / "results"),
            "--speed-variants", "baseline", "wide:batch_size=1024,compile=True,epochs=30", "--speed-parts", "course",
            "--speed-args", "--quick --device cpu --images 160 100 --compile-backend eager"]
    assert gpu_run.main(["device", *args]) == 0
    result = json.loads((tmp_path / "out" / "speed-s.json").read_text())
    assert result["quick"] and result["parts"] == ["course"] and result["loader_images_per_s"] is None
    variants = result["variants"]
    assert list(variants) == ["baseline", "wide"]
    assert variants["wide"]["recipe"]["batch_size"] > variants["baseline"]["recipe"]["batch_size"]
    assert variants["wide"]["recipe"]["compile"] == "eager" and not variants["baseline"]["recipe"]["compile"]
    assert variants["wide"]["changes"] == {"batch_size": 1024, "compile": True, "epochs": 30}
    assert all(v["code"] == gpu_run.speed_code() for v in variants.values())
    with gzip.open(tmp_path / "out" / "speed-s" / "profile_trace.json.gz") as trace:
        assert json.load(trace)["traceEvents"]
    assert "aten::" in (tmp_path / "out" / "speed-s" / "profile_table.txt").read_text()
    assert any("conv" in op["name"] for op in result["profile"]["top_ops"])

    before = json.loads((tmp_path / "results" / "cifar10_speed.json").read_text())
    with pytest.raises(gpu_run.RunbookError, match="--quick check run"):
        gpu_run.merge([tmp_path / "out" / "speed-s.json"], tmp_path / "results", tmp_path / "artifacts")
    gpu_run.merge([tmp_path / "out"], tmp_path / "results", tmp_path / "artifacts", allow_quick=True)
    assert (tmp_path / "artifacts" / "speed-s" / "profile_table.txt").is_file()
    after = json.loads((tmp_path / "results" / "cifar10_speed.json").read_text())
    assert after["course_resnet"] == before["course_resnet"], "a run of some parts never replaces the full record"
    assert set(after["variants"]) == {"baseline", "wide"} and after["profile"]["code"] == gpu_run.speed_code()
    todo, profile = gpu_run.speed_todo(gpu_run.recorded(tmp_path / "results", "full")[1], gpu_run.speed_code(),
                                       ["baseline", "wide"])
    assert todo == [] and profile is False, "recorded for this code: the next command skips them"


def test_speed_variant_specs():
    assert cifar10_speed.parse_variant("epochs16") == ("epochs16", {"epochs": 16})
    assert cifar10_speed.parse_variant("e18:epochs=18,peak_lr=0.5") == ("e18", {"epochs": 18, "peak_lr": 0.5})
    for bad, message in (("nope", "unknown variant"), ("x:epoch=3", "not KEY=VALUE"), ("a b:epochs=3", "name")):
        with pytest.raises(ValueError, match=message):
            cifar10_speed.parse_variant(bad)
    recipe = cifar10_speed.variant_recipe({"compile": True, "batch_size": 1024}, quick=False)
    assert recipe["compile"] == "inductor" and recipe["batch_size"] == 1024 and recipe["epochs"] == 12
    assert REPO == gpu_run.REPO
