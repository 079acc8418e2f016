"""Pretrained torchvision models that still run offline: ``build_pretrained``.

torchvision's builders (``resnet18(weights=ResNet18_Weights.IMAGENET1K_V1)``) download the weights
into the torch hub cache on first use and read them from there afterwards. On a machine without
internet access the download fails (or hangs). ``build_pretrained`` checks the cache first, tries a
download only when allowed and reachable, and otherwise prints ONE line saying which file is missing
and where to put it, then returns the same architecture with random weights, so a notebook still
runs end to end and can label its numbers as "random (offline)".
"""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlparse

import torch

IMAGENET = "ImageNet"
RANDOM_OFFLINE = "random (offline)"


def weights_cache_path(weights) -> Path:
    """Where torchvision looks for ``weights`` (a ``WeightsEnum`` member) before downloading it.

    ``<torch.hub.get_dir()>/checkpoints/<file name from weights.url>``; ``torch.hub.get_dir()`` is
    ``$TORCH_HOME/hub`` (default ``~/.cache/torch/hub``).
    """
    filename = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _resolve(builder, weights):
    """``(builder function, weights enum member)`` from functions, enum members or the names torchvision uses."""
    from torchvision import models

    if isinstance(builder, str):
        try:
            builder = models.get_model_builder(builder)
        except ValueError as error:
            raise ValueError(f"build_pretrained: torchvision has no model {builder!r}; "
                             "see torchvision.models.list_models().") from error
    if not callable(builder):
        raise TypeError(f"build_pretrained: builder must be a torchvision model function such as resnet18, "
                        f"or its name, got {builder!r}.")
    try:
        enum = models.get_model_weights(builder)
    except (ValueError, KeyError) as error:
        raise ValueError(f"build_pretrained: {getattr(builder, '__name__', builder)} is not a torchvision model "
                         "builder with pretrained weights.") from error
    if weights is None:
        raise ValueError(f"build_pretrained needs weights, e.g. 'DEFAULT' or {enum.__name__}.DEFAULT; for random "
                         f"weights call {builder.__name__}(weights=None) directly.")
    try:
        return builder, enum.verify(weights)
    except (KeyError, TypeError, ValueError) as error:
        names = ", ".join(dict.fromkeys(["DEFAULT", *enum.__members__]))
        raise ValueError(f"build_pretrained: {builder.__name__} has no weights {weights!r}; it accepts "
                         f"{names} (or {enum.__name__} members).") from error


def _can_reach(url: str, timeout: float = 3.0) -> bool:
    """Quick connectivity probe (DNS + TCP connect), so an offline download fails in seconds, not minutes.

    ``timeout`` bounds the TCP connect only; the name lookup before it has no timeout of its own (a machine
    whose resolver does not answer can wait half a minute), so the probe runs in a background thread and
    counts as failed when it has not answered within ``2 * timeout``.
    """
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    answer = []

    def probe():
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, name="course_utils-probe", daemon=True)  # daemon: never blocks exit
    thread.start()
    thread.join(2 * timeout)
    return bool(answer and answer[0])


def build_pretrained(builder, weights, allow_download: bool = True, progress: bool = False, **kwargs):
    """Build ``builder(weights=weights, **kwargs)``; return ``(model, source)``.

    ``source`` is ``"ImageNet"`` when the pretrained weights were loaded, ``"random (offline)"``
    when they are neither in the torch hub cache nor downloadable (then the model has random
    weights, and one line says which file is missing and where to put it).

    - The cache is checked first: a cached file is loaded without any network access. (torchvision's
      builders pass ``check_hash=True``, but ``torch.hub.load_state_dict_from_url`` verifies the SHA-256
      prefix in the file name only when it downloads, never for a file already in the cache.)
    - A download is attempted only if ``allow_download`` and the server answers a quick probe;
      network errors (``URLError``, ``OSError``, ``RuntimeError``) lead to the fallback.
    - A cached file that cannot be read raises a ``RuntimeError`` naming the file (delete it and
      run again): a corrupt download is not silently replaced by random weights.

    ``builder`` is a torchvision builder (``resnet18``) or its name (``"resnet18"``); ``weights`` a
    member of its weights enum or a name torchvision accepts: ``"DEFAULT"``, ``"IMAGENET1K_V1"``,
    ``"ResNet18_Weights.IMAGENET1K_V1"``.

    Example: ``model, source = build_pretrained(torchvision.models.resnet18, ResNet18_Weights.IMAGENET1K_V1)``.
    """
    builder, weights = _resolve(builder, weights)
    path = weights_cache_path(weights)
    name = f"{builder.__name__}({type(weights).__name__}.{weights.name})"
    if path.is_file():
        try:
            return builder(weights=weights, progress=progress, **kwargs), IMAGENET
        except Exception as error:  # truncated file, wrong architecture...
            raise RuntimeError(
                f"{name}: the cached weights file {path} could not be loaded ({type(error).__name__}: {error}). "
                "Delete it and run again to download it afresh, or put the official file there."
            ) from error
    reason = "downloads are disabled (allow_download=False)"
    if allow_download:
        if not _can_reach(weights.url):
            reason = "the download server cannot be reached (offline?)"
        else:
            timeout = socket.getdefaulttimeout()
            socket.setdefaulttimeout(60)  # a stalled connection fails instead of hanging forever
            try:
                return builder(weights=weights, progress=progress, **kwargs), IMAGENET
            except (URLError, OSError, RuntimeError) as error:
                reason = f"the download failed ({type(error).__name__}: {error})"
            finally:
                socket.setdefaulttimeout(timeout)
    print(f"{name}: pretrained weights not found at {path} and {reason}; using RANDOM weights. "
          f"To use the real ones, download {weights.url} and place it at {path}.")
    return builder(weights=None, **kwargs), RANDOM_OFFLINE
