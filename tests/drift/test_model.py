"""Images through a model's penultimate layer + MMD; `--model module:callable` loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dii_hpc.cli.app import main
from dii_hpc.drift.model import embed_and_predict, load_model
from dii_hpc.errors import BadInput

NET = '''
import numpy as np
import torch


def make():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 10))


class Mean:
    def embed(self, x):
        return np.asarray(x).reshape(len(x), -1).mean(axis=1, keepdims=True)


def mean():
    return Mean()


def nothing():
    return 42
'''


@pytest.fixture()
def netfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DII_HPC_STORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "mynet.py"
    path.write_text(NET)
    return path


def test_penultimate_layer_embeddings(netfile: Path) -> None:
    import torch

    net = load_model(f"{netfile}:make")
    x = np.random.default_rng(0).random((20, 8, 8)).astype(np.float32)
    emb, pred = embed_and_predict(net, x, batch=7)
    with torch.no_grad():
        expect = net[:-1](torch.as_tensor(x)).numpy()
        logits = net(torch.as_tensor(x)).numpy()
    assert emb.shape == (20, 16) and np.allclose(emb, expect)
    assert (pred == logits.argmax(axis=1)).all()
    emb2, pred2 = embed_and_predict(load_model(f"{netfile}:mean"), x)
    assert emb2.shape == (20, 1) and pred2 is None
    with pytest.raises(BadInput, match="need a torch.nn.Module"):
        load_model(f"{netfile}:nothing")
    with pytest.raises(BadInput, match="expected module:callable"):
        load_model("mynet")


def test_image_monitor_finds_brightness_shift(netfile: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float32) / 16.0
    rng = np.random.default_rng(1)
    idx = rng.permutation(len(images))
    np.savez("ref.npz", x=images[idx[:500]])
    np.savez("same.npz", x=images[idx[500:1000]])
    np.savez("bright.npz", x=np.clip(images[idx[1000:1500]] + 0.3, 0, 1))
    spec = f"{netfile}:make"
    assert main(["drift", "profile", "--data", "ref.npz", "--name", "digits", "--model", spec]) == 0
    assert main(["drift", "check", "--monitor", "digits", "--data", "same.npz"]) == 0
    out = capsys.readouterr().out
    assert "embedding_mmd" in out and "verdict: no drift" in out
    assert main(["drift", "check", "--monitor", "digits", "--data", "bright.npz"]) == 1
    assert "drift found" in capsys.readouterr().err
    assert main(["drift", "profile", "--data", "ref.npz", "--name", "nomodel"]) == 2
    assert "need --model" in capsys.readouterr().err
