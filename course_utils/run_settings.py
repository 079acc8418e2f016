"""One pattern for every notebook's sizes: each knob is declared once, in the parameters cell, as a value per run mode.

In the parameters cell (papermill may replace any of these lines)::

    RUN_MODE = None                                  # "smoke", "fast", "full"; None: full on a GPU, else fast
    EPOCHS = {"smoke": 2, "fast": 4, "full": 15}     # one value per run mode ...
    TRAIN_IMAGES = 45000                             # ... or one value for every run mode

After the imports::

    settings = cu.RunSettings(RUN_MODE, EPOCHS=EPOCHS, TRAIN_IMAGES=TRAIN_IMAGES)
    EPOCHS, TRAIN_IMAGES = settings.values()
    RUN_MODE = settings.mode
    print(settings)

``settings.full_size`` is True when every knob kept its per-mode table, i.e. the run has the sizes its run
mode was designed for. Full mode's thresholds only hold then: ``settings.check`` and
``settings.check_full_mode`` skip them (and say so) otherwise. The CI's full-shape rehearsal
(``tools/rehearse.py``) runs full mode with the data-size knobs (``*_IMAGES``, ``*EPOCHS``, ``*_STEPS``,
``PATIENCE``) set to single small values, and reads the knobs from the parameters cell.
"""
from __future__ import annotations

import numbers

from .env import RUN_MODES, resolve_run_mode
from .selfcheck import check_full_mode


def _is_mode_table(value) -> bool:
    return isinstance(value, dict) and set(value) == set(RUN_MODES)


class RunSettings:
    """The run mode and, for each knob, the value chosen for it.

    ``knobs`` maps a name to either a dict with one value per run mode (``{"smoke": …, "fast": …,
    "full": …}``) or a single value that every run mode uses (a student's or the CI's override).
    """

    def __init__(self, run_mode: str | None = None, **knobs):
        self.mode = resolve_run_mode(run_mode)
        if not knobs:
            raise TypeError("RunSettings needs at least one knob, e.g. RunSettings(RUN_MODE, EPOCHS=EPOCHS)")
        self.chosen: dict[str, object] = {}
        self.overridden: list[str] = []
        for name, value in knobs.items():
            if isinstance(value, dict):
                if not _is_mode_table(value):
                    raise ValueError(
                        f"{name} = {value!r}: a per-mode value needs exactly the keys {', '.join(RUN_MODES)} "
                        f"(e.g. {name} = {{'smoke': 1, 'fast': 4, 'full': 30}}), or give one value for every mode")
                value = value[self.mode]
            else:
                self.overridden.append(name)
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                value = int(value)  # NumPy integers from a student's code work like Python integers
            self.chosen[name] = value

    @property
    def full_size(self) -> bool:
        """True when every knob is its run mode's own value (nothing overridden)."""
        return not self.overridden

    def values(self) -> tuple:
        """The chosen values, in the order the knobs were given (to unpack into the notebook's names)."""
        return tuple(self.chosen.values())

    def __getitem__(self, name: str):
        return self.chosen[name]

    def check(self, ok: bool, message: str, *, measured: bool = False) -> bool | None:
        """A self-check on a result: a plain ``assert`` in smoke and fast mode; in full mode it goes through
        ``check_full_mode``, which skips it when knobs were overridden (it cannot hold on less data) and only
        warns for a threshold that was never measured in full mode (``measured=False``). Returns None in smoke
        and fast mode (a failed check raises), so that a check on a cell's last line prints nothing."""
        if self.mode != "full":
            assert ok, message
            return None
        return check_full_mode(ok, message, run_mode=self.mode, full_size=self.full_size, measured=measured)

    def check_full_mode(self, ok: bool, expectation: str, *, measured: bool = False) -> bool | None:
        """``cu.check_full_mode`` for this run: checks ``ok`` only in full mode, and only at full size."""
        return check_full_mode(ok, expectation, run_mode=self.mode, full_size=self.full_size, measured=measured)

    def __repr__(self) -> str:
        def show(value):
            return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else repr(value)

        knobs = ", ".join(f"{name} {show(value)}" for name, value in self.chosen.items())
        sizes = ("the run mode's own sizes" if self.full_size
                 else f"set by hand: {', '.join(self.overridden)} (full-mode checks are skipped)")
        return f"run mode: {self.mode}; {knobs}; {sizes}"
