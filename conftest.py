"""Settings for every pytest run of this repository (unit tests, papermill and nbval runs)."""
import os

# Notebooks run in smoke mode under pytest (nbval starts kernels that inherit this environment),
# unless the caller chose another mode explicitly.
os.environ.setdefault("COURSE_RUN_MODE", "smoke")
