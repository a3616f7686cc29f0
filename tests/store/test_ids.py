from __future__ import annotations

import time

from dii_hpc.store.ids import is_run_id, new_run_id, run_id_time


def test_ids_sort_by_creation_time_and_do_not_collide() -> None:
    ids = []
    for i in range(2000):
        ids.append(new_run_id(now=1_700_000_000 + i * 0.001))
    assert ids == sorted(ids)
    burst = {new_run_id() for _ in range(50_000)}  # same millisecond, many "nodes"
    assert len(burst) == 50_000
    assert all(is_run_id(r) for r in burst)


def test_run_id_encodes_its_time() -> None:
    now = time.time()
    assert abs(run_id_time(new_run_id(now)) - now) < 0.002
