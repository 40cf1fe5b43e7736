"""The reliability suite's marker. Its fixtures (the served spec model, the local HTTP server) are
the root conftest's; ``RELIABILITY_SCHEMATHESIS_CASES`` and ``RELIABILITY_LOAD_SECONDS`` (read in
tests/helpers.py) size the two long checks: small in ``make test``, full (1,000 cases, 60 s) in
``make test-reliability``.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: long reliability checks sized by RELIABILITY_* variables"
    )
