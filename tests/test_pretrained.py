"""course_utils.pretrained: loading from the torch hub cache with no network, and the offline fallback."""
import socket
import time
from urllib.error import URLError

import pytest
import torch
from torchvision.models import ResNet18_Weights, resnet18

from course_utils import pretrained
from course_utils.pretrained import IMAGENET, RANDOM_OFFLINE, build_pretrained, weights_cache_path

WEIGHTS = ResNet18_Weights.IMAGENET1K_V1


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub cache (TORCH_HOME -> tmp) where any download attempt fails with URLError."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    calls = []

    def no_download(url, dst, *args, **kwargs):
        calls.append(url)
        raise URLError("no network in this test")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return tmp_path, calls


def test_cache_path_follows_torch_home(empty_hub):
    tmp_path, _ = empty_hub
    assert weights_cache_path(WEIGHTS) == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"


def test_cached_file_loads_without_network(empty_hub):
    """A file under the expected cache name is loaded as is; torchvision checks the SHA-256 prefix in the
    file name only when it downloads (check_hash), not when it reads the cache, so a locally made file loads."""
    _, calls = empty_hub
    state = resnet18().state_dict()
    state["conv1.weight"].fill_(0.125)  # a value random initialisation never produces
    path = weights_cache_path(WEIGHTS)
    path.parent.mkdir(parents=True)
    torch.save(state, path)

    model, source = build_pretrained(resnet18, WEIGHTS, allow_download=False)
    assert source == IMAGENET
    assert torch.all(model.conv1.weight == 0.125)
    assert calls == [], "a cached file must be loaded without any download attempt"


def test_offline_fallback_when_download_fails(empty_hub, monkeypatch, capsys):
    _, calls = empty_hub
    monkeypatch.setattr(pretrained, "_can_reach", lambda url, timeout=3.0: True)  # pretend online...
    model, source = build_pretrained(resnet18, WEIGHTS)  # ...but the download raises URLError
    assert calls == [WEIGHTS.url]
    assert source == RANDOM_OFFLINE
    assert model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 1000), "the same architecture, random weights"
    lines = capsys.readouterr().out.strip().splitlines()
    message = lines[-1]
    assert "RANDOM weights" in message and str(weights_cache_path(WEIGHTS)) in message and WEIGHTS.url in message
    assert "download failed" in message and "URLError" in message
    assert not weights_cache_path(WEIGHTS).exists(), "a failed download leaves no file behind"


def test_no_download_attempt_when_disabled_or_unreachable(empty_hub, monkeypatch, capsys):
    _, calls = empty_hub
    _, source = build_pretrained(resnet18, WEIGHTS, allow_download=False)
    assert source == RANDOM_OFFLINE and calls == []
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "allow_download=False" in out, "exactly one clear line"

    monkeypatch.setattr(pretrained, "_can_reach", lambda url, timeout=3.0: False)
    _, source = build_pretrained(resnet18, WEIGHTS)
    assert source == RANDOM_OFFLINE and calls == []
    assert "cannot be reached" in capsys.readouterr().out


def test_corrupt_cached_file_is_an_error(empty_hub):
    path = weights_cache_path(WEIGHTS)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="could not be loaded.*Delete it"):
        build_pretrained(resnet18, WEIGHTS, allow_download=False)


def test_the_connectivity_probe_gives_up_on_a_lookup_that_does_not_answer(monkeypatch):
    """The name lookup has no timeout of its own; the probe stops waiting after twice its timeout."""
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: time.sleep(5))  # a resolver that hangs
    start = time.perf_counter()
    assert pretrained._can_reach("https://download.pytorch.org/models/x.pth", timeout=0.1) is False
    assert time.perf_counter() - start < 2


def test_the_connectivity_probe_says_yes_when_the_connection_opens(monkeypatch):
    class Connection:
        def close(self):
            pass

    seen = []
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout: seen.append(address) or Connection())
    assert pretrained._can_reach("https://download.pytorch.org/models/x.pth") is True
    assert seen == [("download.pytorch.org", 443)]
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    assert pretrained._can_reach("http://example.org:8080/x") is False
