"""A tiny GPT-2 built from a config (no download) trained a few steps by the Hugging Face
Trainer with DiiCallback: its log history point for point, its arguments, its final model."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _train(tmp_path: Path, callbacks: list[Any], report_to: list[str]) -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    model = GPT2LMHeadModel(config)
    g = torch.Generator().manual_seed(0)
    data = [{"input_ids": ids, "labels": ids}
            for ids in torch.randint(0, 64, (32, 16), generator=g)]
    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=6, learning_rate=1e-3,
                             per_device_train_batch_size=4, per_device_eval_batch_size=8,
                             logging_steps=2, eval_strategy="steps", eval_steps=3,
                             save_strategy="no", report_to=report_to, use_cpu=True,
                             run_name="tiny-gpt2", disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, eval_dataset=data[:8],
                      callbacks=callbacks)
    trainer.train()
    return trainer


def test_a_few_steps_with_the_callback(offline: None, store_path: Path, tmp_path: Path) -> None:
    from dii_hpc.integrations.transformers import DiiCallback
    from dii_hpc.store.store import Store

    callback = DiiCallback("hf", tags={"task": "lm"})
    trainer = _train(tmp_path, [callback], report_to=[])
    store = Store(store_path)
    [record] = store.records("hf")
    rid = record["run_id"]
    assert record["status"] == "FINISHED"
    assert record["tags"] == {"name": "tiny-gpt2", "task": "lm"}
    assert record["params"]["learning_rate"] == 1e-3 and record["params"]["max_steps"] == 6
    assert record["params"]["model"]["n_embd"] == 16
    expected: dict[str, list[tuple[int, float]]] = {}
    for entry in trainer.state.log_history:
        for key, value in entry.items():
            if key != "step" and isinstance(value, (int, float)):
                expected.setdefault(key, []).append((entry["step"], float(value)))
    assert {"loss", "eval_loss", "learning_rate", "train_runtime"} <= set(expected)
    assert sorted(store.metric_keys(rid)) == sorted(expected)
    for key, points in expected.items():
        ours = [(int(s), v) for s, v, _ in store.metric_array(rid, key).tolist()]
        assert [s for s, _ in ours] == [s for s, _ in points], key
        assert all(math.isclose(a, b, rel_tol=1e-9) for (_, a), (_, b) in zip(ours, points,
                                                                               strict=True))
    assert [s for s, _ in expected["loss"]] == [2, 4, 6]
    arts = store.artifacts(rid)
    assert {"model/config.json", "model/model.safetensors"} <= set(arts)
    from transformers import GPT2LMHeadModel

    folder = tmp_path / "reloaded"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes(Path(arts[f"model/{name}"]["path"]).read_bytes())
    reloaded = GPT2LMHeadModel.from_pretrained(str(folder))
    assert all(bool((a == b).all()) for a, b in zip(reloaded.state_dict().values(),
                                                   trainer.model.state_dict().values(),
                                                   strict=True))
    trainer.evaluate(metric_key_prefix="final")  # after train: the same run, reopened
    assert callback.run.id == rid and not callback.run.finished  # (ended FINISHED at exit)
    callback.run.finish()
    assert store.metric_array(rid, "final_loss")[:, 0].tolist() == [6]


def test_report_to_names_the_callback(offline: None, store_path: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from dii_hpc.integrations import transformers as integration
    from dii_hpc.store.store import Store

    integration.register()
    monkeypatch.setenv("DII_HPC_EXPERIMENT", "via-report-to")
    _train(tmp_path, [], report_to=["dii-hpc"])
    [record] = Store(store_path).records("via-report-to")
    assert record["status"] == "FINISHED" and "loss" in record["metrics"]


TRAIN_SCRIPT = """
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2))
data = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, 64, (16, 16))]
args = TrainingArguments(output_dir="out", max_steps=4, per_device_train_batch_size=4,
                         logging_steps=2, save_strategy="no", report_to=["dii-hpc"],
                         use_cpu=True, disable_tqdm=True)
Trainer(model=model, args=args, train_dataset=data).train()
"""


@pytest.mark.parametrize("order", [("dii_hpc", "transformers.trainer"),
                                   ("transformers.trainer", "dii_hpc")])
def test_report_to_resolves_without_importing_the_callback(order: tuple[str, str],
                                                           store_path: Path, tmp_path: Path) -> None:
    """transformers looks `report_to` names up in INTEGRATION_TO_CALLBACK when the Trainer is
    built: `import dii_hpc`, before or after transformers loaded its integrations, is enough."""
    import os

    script = tmp_path / "train.py"
    script.write_text("".join(f"import {m}\n" for m in order) + TRAIN_SCRIPT)
    env = {**os.environ, "DII_HPC_STORE": str(store_path), "DII_HPC_EXPERIMENT": "report-to",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("DII_HPC_RUN_ID", None)
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    from dii_hpc.store.store import Store

    [record] = Store(store_path).records("report-to")
    assert record["status"] == "FINISHED" and record["metrics"]["loss"]["count"] == 2


def test_importing_dii_hpc_does_not_import_transformers() -> None:
    code = ("import sys, dii_hpc, dii_hpc.integrations.transformers; "
            "print('transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
