"""Images through a model's penultimate layer + MMD; `--model module:callable` loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dii_hpc.cli.app import main
from dii_hpc.drift.embedding import embed_and_predict, load_model
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


def mlp():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    with torch.no_grad():  # a fixed rule: class 1 when x > 0
        net[0].weight.zero_()
        net[0].bias.zero_()
        net[0].weight[0, 0] = 5.0
        net[2].weight.copy_(torch.tensor([[0.0] * 8, [1.0] + [0.0] * 7]) * 10)
        net[2].bias.copy_(torch.tensor([0.0, 0.0]))
    return net
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
    # float32 sums in another order (batches of 7 vs one of 20): equal to float32 precision
    assert emb.shape == (20, 16) and np.allclose(emb, expect, rtol=1e-5, atol=1e-5)
    assert (pred == logits.argmax(axis=1)).all()
    emb2, pred2 = embed_and_predict(load_model(f"{netfile}:mean"), x)
    assert emb2.shape == (20, 1) and pred2 is None
    with pytest.raises(BadInput, match="need a torch.nn.Module"):
        load_model(f"{netfile}:nothing")
    with pytest.raises(BadInput, match="is not a \"module:callable\" reference"):
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


def test_table_monitor_with_torch_model_and_labels(netfile: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import pandas as pd

    rng = np.random.default_rng(2)
    ref = pd.DataFrame(rng.normal(size=(400, 3)), columns=["x", "y", "z"])
    ref.to_csv("ref.csv", index=False)
    pd.DataFrame({"label": (ref["x"] > 0).astype(int)}).to_csv("y_ref.csv", index=False)
    spec = f"{netfile}:mlp"
    assert main(["drift", "profile", "--data", "ref.csv", "--name", "tab", "--model", spec,
                 "--labels", "y_ref.csv"]) == 0
    cur = pd.DataFrame(rng.normal(size=(400, 3)), columns=["x", "y", "z"])
    cur.to_csv("cur.csv", index=False)
    pd.DataFrame({"label": (cur["x"] > 0).astype(int)}).to_csv("y_cur.csv", index=False)
    code = main(["drift", "check", "--monitor", "tab", "--data", "cur.csv", "--labels", "y_cur.csv",
                 "--json", "out.json"])
    doc = json.loads(Path("out.json").read_text())
    assert code == 0, capsys.readouterr().err
    assert doc["performance"]["reference"]["accuracy"] > 0.95 and doc["performance"]["drift"] is False
    assert doc["multivariate"]["embedding_mmd"]["test"] == "mmd" and "prediction" in doc
