"""Reference models: LiRA's split, content-hash keys, storage in the store, resume, reuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dii_hpc.audit.job import AuditJob, of
from dii_hpc.audit.privacy.reference import models as reference_models
from dii_hpc.audit.privacy.reference import training as reference_training

SKLEARN = {"factory": "dii_hpc.examples.tabular:breast_cancer_sklearn", "params": {"C": 1.0}}
DATA = "dii_hpc.examples.tabular:breast_cancer_data"


def test_halves_put_every_record_in_exactly_half_of_the_models() -> None:
    keep = reference_models.halves(16, 300, seed=0)
    assert keep.shape == (16, 300) and (keep.sum(axis=0) == 8).all()
    assert keep.sum(axis=1).min() > 120 and keep.sum(axis=1).max() < 180  # about half each
    assert np.array_equal(keep, reference_models.halves(16, 300, seed=0))
    assert not np.array_equal(keep, reference_models.halves(16, 300, seed=1))
    assert (reference_models.halves(3, 10, 0).sum(axis=0) == 1).all()


def test_keys_are_content_hashes_of_split_trainer_and_seed(tmp_path: Path) -> None:
    x, y = np.random.default_rng(0).random((20, 3)), np.arange(20) % 2
    keep = reference_models.halves(4, 20, 0)
    trainer = reference_models.trainer_identity(
        {"factory": "m:f", "params": {"hidden": 8, "weights": "/a/target.pt"}})
    assert trainer == {"factory": "m:f", "params": {"hidden": 8}}  # the target's weights: out
    base = reference_models.plan(x, y, keep, trainer, 0, "halves", tmp_path).keys
    assert base == reference_models.plan(x, y, keep, trainer, 0, "halves", tmp_path).keys
    assert len(set(base)) == 4
    other = {"factory": "m:f", "params": {"hidden": 16}}
    for changed in (reference_models.plan(x, y, keep, other, 0, "halves", tmp_path),
                    reference_models.plan(x, y, ~keep, trainer, 0, "halves", tmp_path),
                    reference_models.plan(x + 1, y, keep, trainer, 0, "halves", tmp_path),
                    reference_models.plan(x, y, keep, trainer, 1, "halves", tmp_path)):
        assert not set(changed.keys) & set(base)


def test_models_live_in_the_store_and_resume_per_model(store_path: Path) -> None:
    from dii_hpc.examples.tabular import breast_cancer_sklearn

    model = breast_cancer_sklearn()
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 30)).astype(np.float32), rng.integers(0, 2, 60)
    p = reference_models.plan(x, y, reference_models.halves(3, 60, 0),
                              reference_models.trainer_identity(SKLEARN), 0, "halves")
    assert p.root == store_path.absolute() / "cache" / "reference-models"
    assert reference_models.train_inline(model, p) == 3 and p.missing() == []
    first = p.outputs()
    assert first.shape == (3, 60, 2) and first.dtype == np.float64
    meta = json.loads((p.folder(1) / reference_models.META).read_text())
    assert meta["key"] == p.keys[1] and meta["n_train"] == p.keep[1].sum() == 20
    (p.folder(1) / reference_models.META).unlink()  # an interrupted model: only it retrains
    assert p.missing() == [1] and reference_models.train_inline(model, p) == 1
    assert np.array_equal(p.outputs(), first)
    assert reference_models.train_inline(model, p) == 0


def _job(name: str, **params: Any) -> AuditJob:
    return of({"model": SKLEARN, "data": DATA, "seed": 0, "n_samples": 100,
               "experiment": "ref"}, "II", name, params)


def test_a_second_audit_reuses_every_model(store_path: Path) -> None:
    first, _ = reference_training.prepare(_job("lira", n_reference=4))
    assert first is not None and (first["trained"], first["reused"]) == (4, 0)
    again, _ = reference_training.prepare(_job("rmia", n_reference=4))  # same population, recipe
    assert again is not None and (again["trained"], again["reused"], again["job_id"]) == (0, 4, None)
    assert reference_training.prepare(_job("mi_loss")) == (None, None)


def test_an_array_of_local_processes_trains_what_is_missing(
        store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same array code path as Slurm (launch.backend), on this host's executor (forced:
    by their times these models would train here)."""
    monkeypatch.setenv("DII_HPC_PLACEMENT", "array")
    out, _ = reference_training.prepare(_job("lira", n_reference=2), executor="processes")
    assert out is not None and out["trained"] == 2 and out["job_id"]
    inline, _ = reference_training.prepare(_job("lira", n_reference=2))
    assert inline is not None and inline["trained"] == 0
