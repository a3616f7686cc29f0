"""Fixtures the command tests share with the packages' own tests, imported (defined once there):
the demo weights cache and models of tests/audit, and the demo store of tests/report."""

from __future__ import annotations

from tests.audit.conftest import demo_cache, digits  # noqa: F401 - fixtures
from tests.audit.vision.conftest import detector, segmenter  # noqa: F401 - fixtures
from tests.report.conftest import demo  # noqa: F401 - fixture
