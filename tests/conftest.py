"""Shared fixtures. Tests marked `postgres` skip on SQLite, unless CI demands PostgreSQL
(SAGASCOPE_REQUIRE_POSTGRES=1), where a skip would hide a gap and so fails instead."""

from __future__ import annotations

import os

import pytest
from django.db import connection


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SAGASCOPE_REQUIRE_POSTGRES") == "1" and connection.vendor != "postgresql":
        raise pytest.UsageError("SAGASCOPE_REQUIRE_POSTGRES=1 but DATABASE_URL is not PostgreSQL")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        if os.environ.get("SAGASCOPE_REQUIRE_POSTGRES") == "1":
            pytest.fail("this test needs PostgreSQL, and CI requires it to run")
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")
