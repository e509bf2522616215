"""Fixtures of the sensitive-field tests (helpers in vault.py)."""

from __future__ import annotations

import pytest

from .vault import staff, vault_saga


@pytest.fixture
def vault():
    return vault_saga()


@pytest.fixture
def reader(django_user_model):
    return staff(django_user_model, "reader", "edit_saga_input")  # may edit, not reveal


@pytest.fixture
def revealer(django_user_model):
    return staff(django_user_model, "revealer", "view_sensitive", "edit_saga_input")
