"""Settings for every pytest run of this repository (unit tests and papermill runs)."""
import os

# Notebooks run in smoke mode under pytest (kernels inherit this environment),
# unless the caller chose another mode explicitly.
os.environ.setdefault("COURSE_RUN_MODE", "smoke")
