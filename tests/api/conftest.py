"""Schemathesis' pytest integration under this project's pytest.

``schemathesis.pytest.from_fixture`` (4.32.5) reads and renames the running item through ``Node._nodeid`` to label
each operation's subtest; pytest 9.2 keeps the id in ``Node._id`` and has no ``_nodeid``, so every lazy-schema test
fails with ``AttributeError: 'Function' object has no attribute '_nodeid'``. Read it as the node id and ignore the
renaming (each subtest is still labelled with its operation, e.g. ``GET /api/v1/health``). Remove once Schemathesis
supports pytest 9.2.
"""

from __future__ import annotations

import pytest

if not hasattr(pytest.Function, "_nodeid"):
    pytest.Function._nodeid = property(  # type: ignore[attr-defined]
        lambda self: self.nodeid, lambda self, value: None
    )
