"""Self-checks whose threshold belongs to a full-mode run (a GPU, every image, every epoch).

Smoke and fast runs check what they can measure with plain ``assert`` statements in the notebook.
A threshold such as "LeNet reaches 55% in full mode" only means something in a full-size run, and
only once it has been measured there: ``check_full_mode`` encodes those two rules in one place.
"""
from __future__ import annotations

import warnings

from .env import RUN_MODES


class FullModeExpectationWarning(UserWarning):
    """A full-mode expectation that has not been measured yet was not met."""


def check_full_mode(ok: bool, expectation: str, *, run_mode: str, full_size: bool = True,
                    measured: bool = False) -> bool | None:
    """Check ``ok`` in a full-mode run; return whether it held (None when the check does not apply).

    - ``run_mode`` other than ``"full"``: nothing to check, returns None.
    - ``full_size=False`` (full mode with its data-size knobs turned down, e.g. the CI rehearsal of
      full mode's shapes on a CPU): prints that the check was skipped and why, returns None.
    - ``measured=True`` (the threshold was measured in full mode and is recorded in the repository):
      raises ``AssertionError`` with ``expectation`` when ``ok`` is false.
    - ``measured=False``: a threshold not measured yet only warns, so a student's run never crashes
      on a number nobody has checked.
    """
    if run_mode not in RUN_MODES:  # a typo would silently skip the check
        raise ValueError(f"check_full_mode: run_mode must be one of {RUN_MODES} (cu.resolve_run_mode() gives one), "
                         f"got {run_mode!r}.")
    if run_mode != "full":
        return None
    if not full_size:
        print(f"Full-mode check skipped (data-size knobs turned down, so it cannot hold): {expectation}")
        return None
    if ok:
        print(f"Full-mode check passed: {expectation}")
        return True
    if measured:
        raise AssertionError(f"Full-mode check failed: {expectation}")
    warnings.warn(
        f"Full-mode expectation not met: {expectation}. This threshold has not been measured in full mode "
        "yet, so this is a warning, not an error; please report your numbers and hardware.",
        FullModeExpectationWarning,
        stacklevel=2,
    )
    return False
