"""Checkpoints: save a model's weights atomically, load them safely, and never half-load a model.

- ``save_checkpoint`` writes ``{"model": state_dict, **extra}`` to a temporary file next to the
  destination and renames it over the destination in one step: a crash never leaves a broken file.
- ``load_checkpoint`` reads with ``torch.load(..., weights_only=True)`` (no code in the file runs),
  checks that the weights fit the model before copying any of them, and calls a file "corrupt"
  only when it cannot be read at all.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checks import checkpoint_target

_PLAIN = (type(None), bool, int, float, str, bytes, torch.Tensor)


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, or does not fit the model. The file is never changed."""


def save_checkpoint(path, model: nn.Module, **extra) -> Path:
    """Save ``{"model": model.state_dict(), **extra}`` atomically and return the path.

    ``extra`` may hold numbers, strings, tensors, and lists and dicts of them; NumPy numbers and
    arrays are converted to Python numbers and tensors, so the file loads with ``weights_only=True``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"save_checkpoint: model must be an nn.Module (its state_dict is saved), "
                        f"got {type(model).__name__}.")
    extra = {key: _plain(value, key) for key, value in extra.items()}  # before touching the disk
    path = checkpoint_target(path, "save_checkpoint")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({"model": model.state_dict(), **extra}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _plain(value, key):
    """``value`` as data that ``torch.load(weights_only=True)`` accepts, or a TypeError naming ``key``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, key) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v, key) for k, v in value.items()}
    raise TypeError(f"save_checkpoint: {key}= is a {type(value).__name__}; a checkpoint holds numbers, strings, "
                    "tensors, lists and dicts (so it loads without running code). Convert it, e.g. str(value).")


def load_checkpoint(path, model: nn.Module | None = None, map_location="cpu") -> dict:
    """Read a checkpoint saved by ``save_checkpoint``; with ``model``, copy its weights into the model.

    Raises ``CheckpointError`` for a missing or unreadable file, or weights that do not fit the
    model. On any error the model is left exactly as it was, and the file is never modified.
    """
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"load_checkpoint: model must be an nn.Module, got {type(model).__name__}.")
    where = torch.device(map_location) if isinstance(map_location, (str, torch.device)) else None
    if where is not None and where.type == "cuda" and not torch.cuda.is_available():
        raise CheckpointError(f"load_checkpoint: map_location={str(map_location)!r}, but PyTorch sees no CUDA GPU. "
                              "Load with map_location='cpu' (the default), then move the model with model.to(device).")
    path = Path(path)
    if not path.is_file():
        found = f"{path} is a folder, not a checkpoint file" if path.is_dir() else f"No checkpoint at {path}"
        raise CheckpointError(f"{found}. Train first (fit(..., checkpoint_path=...)) or fix the path.")
    checkpoint = _read(path, map_location)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        bare = isinstance(checkpoint, dict) and checkpoint and all(torch.is_tensor(v) for v in checkpoint.values())
        hint = (" It looks like a bare state_dict: load it with model.load_state_dict(torch.load(path, "
                "weights_only=True)).") if bare else ""
        raise CheckpointError(f"{path} is not a course checkpoint: expected a dict with a 'model' state_dict.{hint}")
    if model is not None:
        problems = _mismatches(model.state_dict(), checkpoint["model"])
        if problems:
            raise CheckpointError(f"{path} does not fit this model (another architecture or number of classes?); "
                                  "the model was left unchanged.\n" + "\n".join(problems))
        model.load_state_dict(checkpoint["model"])
    return checkpoint


def _read(path: Path, map_location):
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found is None:
            raise _corrupt(path, error) from error
        raise CheckpointError(
            f"{path} holds a Python object ({found.group(1)}), not only tensors, numbers, strings, lists and "
            "dicts, so it is not loaded: loading it could run code. The file is not corrupt. If you trust its "
            "source: torch.load(path, weights_only=False), then save it again with cu.save_checkpoint."
        ) from error
    except RuntimeError as error:
        if "on a CUDA device" in str(error):
            raise CheckpointError(f"{path} was saved on a GPU and this machine has none: "
                                  "load it with map_location='cpu'.") from error
        raise _corrupt(path, error) from error
    except PermissionError as error:
        raise CheckpointError(f"{path} cannot be read: permission denied.") from error
    except (EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        raise _corrupt(path, error) from error


def _corrupt(path, error):
    return CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt: {type(error).__name__}). "
                           "It was left as it is; delete it and train again, or load another file.")


def _mismatches(expected: dict, found: dict, limit: int = 8) -> list[str]:
    """What ``load_state_dict`` (strict) would refuse, found before any weight is copied."""
    problems = [f"  missing from the file: {k}" for k in expected if k not in found]
    problems += [f"  not in this model: {k}" for k in found if k not in expected]
    for key in (k for k in expected if k in found):
        want, got = expected[key], found[key]
        if torch.is_tensor(want) and not torch.is_tensor(got):
            problems.append(f"  {key}: the file holds a {type(got).__name__}, not a tensor")
        elif torch.is_tensor(want) and want.shape != got.shape:
            problems.append(f"  {key}: shape {tuple(got.shape)} in the file, {tuple(want.shape)} in the model")
    return problems[:limit] + ([f"  ... and {len(problems) - limit} more"] if len(problems) > limit else [])
