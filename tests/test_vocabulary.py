"""The one status vocabulary: PRUNED (an adaptive sweep's early stop) is a terminal result."""

from __future__ import annotations

from dii_hpc import vocabulary as vocab


def test_pruned_is_terminal_and_not_a_failure() -> None:
    assert vocab.PRUNED in vocab.STATUSES and vocab.is_terminal(vocab.PRUNED)
    assert vocab.PRUNED in vocab.SUCCESSFUL and vocab.PRUNED in vocab.RUN_ENDINGS
    assert vocab.PRUNED not in vocab.UNSUCCESSFUL  # `resubmit --failed` leaves it alone
    assert vocab.STATUSES.index(vocab.PRUNED) == vocab.STATUSES.index(vocab.FINISHED) + 1


def test_status_attention_and_outcome_accept_pruned() -> None:
    from dii_hpc.launch.status import attention, check_outcome

    rows = [{"run_id": "a", "status": "PRUNED", "error": "pruned at step 2"},
            {"run_id": "b", "status": "FINISHED", "error": ""}]
    assert attention(rows) == []
    check_outcome(rows)  # no InfraError: a pruned trial did what it was told
