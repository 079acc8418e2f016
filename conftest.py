"""Settings for every pytest run of this repository: the repository root is on sys.path (tools, benchmarks),
and the notebooks are collected by tools/nbval_colab.py (nbval, each notebook run once in smoke mode as on
Colab; pyproject.toml passes --nbval-lax)."""
pytest_plugins = ["tools.nbval_colab"]
