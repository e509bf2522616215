"""Retention tests: sagas finished by a real worker, archives in a temporary directory,
and the clock passed in (`prune(now=...)`), never slept."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagas.registry import registry

from .scenarios import Failing, ShortLived, refund_works


@pytest.fixture(autouse=True)
def retention_setup(settings, tmp_path: Path):
    settings.SAGASCOPE_ARCHIVE_DIR = str(tmp_path / "archive")
    refund_works["value"] = False
    with registry.override(Failing), registry.override(ShortLived):
        yield
