"""Run ids: sortable by creation time and collision-free without coordination.

A ULID: 48 bits of milliseconds since the epoch + 80 random bits, Crockford base32, 26 chars.
Thousands of array tasks can start in the same millisecond on different nodes; 80 random bits
make a clash astronomically unlikely, and nobody ever reads "max(existing)+1".
"""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RUN_ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def new_run_id(now: float | None = None) -> str:
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def run_id_time(run_id: str) -> float:
    """The creation time encoded in a run id, in epoch seconds."""
    value = 0
    for ch in run_id[:10]:
        value = value * 32 + _ALPHABET.index(ch)
    return value / 1000.0


def is_run_id(text: str) -> bool:
    return bool(RUN_ID_RE.match(text))
