"""Show a notebook's key results as a table, in a form the notebook tests can read back."""
from __future__ import annotations

import json
import math
from collections.abc import Mapping

RESULTS_MIMETYPE = "application/vnd.course-results+json"


def show_results(results: dict) -> dict:
    """Display ``results`` (name -> number or short text) as a table and return it.

    The same values are attached as JSON under ``RESULTS_MIMETYPE``, which the notebook tests
    read from the executed notebook to check them (like scrapbook's ``glue``).
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"show_results takes a dict {{name: value}}, e.g. {{'test accuracy': 0.71}}; "
                        f"got a {type(results).__name__}.")
    clean = {}
    for key, value in results.items():
        if hasattr(value, "item"):  # a NumPy or PyTorch number, or an array that must hold exactly one
            count = value.numel() if hasattr(value, "numel") else getattr(value, "size", 1)
            if count != 1:
                raise ValueError(f"show_results: result {key!r} is an array of shape {tuple(value.shape)}, not one "
                                 "number. Give one number per result, e.g. its mean, or one result per entry.")
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"result {key!r} is {value}: something went wrong before this cell.")
        try:
            json.dumps(value)  # fail here, not in the test, if a value is not plain data
        except TypeError as error:
            raise TypeError(f"show_results: result {key!r} is a {type(value).__name__}; give a number or a short "
                            "text, e.g. str(value).") from error
        clean[str(key)] = value
    rows = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in clean.items())
    markdown = "| result | value |\n| --- | --- |\n" + rows
    try:
        from IPython.display import display

        display({"text/markdown": markdown, "text/plain": markdown, RESULTS_MIMETYPE: clean}, raw=True)
    except ImportError:  # plain Python: just print
        print(markdown)
    return clean


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)
