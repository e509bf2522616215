"""Who may do what, decided in one place: the table of what each token scope grants, an
actor's permissions, and the refusals."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied

from sagas.models import ApiToken
from sagas.services import bulk
from sagas.services.actions import ACTIONS, permitted
from sagas.services.actors import (
    BULK_OPERATE,
    READ_SAGAS,
    SCOPE_PERMISSIONS,
    START_SAGA,
    Actor,
    is_staff,
    require,
)

pytestmark = pytest.mark.django_db

ACTION_PERMISSIONS = {spec.permission for spec in ACTIONS.values()}


def token(*scopes: str) -> Actor:
    return Actor(name="token:t", scopes=frozenset(scopes))


def test_each_scope_grants_what_the_api_has_always_allowed_it():
    assert set(SCOPE_PERMISSIONS) == set(ApiToken.SCOPES)
    assert SCOPE_PERMISSIONS["operate"] == ACTION_PERMISSIONS | {BULK_OPERATE}
    reader, starter, operator = token("read"), token("start"), token("operate")
    assert reader.may(READ_SAGAS) and not reader.may(START_SAGA)
    assert starter.may(START_SAGA) and not starter.may(READ_SAGAS)
    assert not operator.may(READ_SAGAS) and not operator.may(START_SAGA)
    assert permitted(operator) == list(ACTIONS) and permitted(reader) == permitted(starter) == []
    assert bulk.permitted(operator) == [n for n in ACTIONS if not ACTIONS[n].edits_input]
    assert not operator.may("sagas.view_traceback")  # no scope shows server paths


def test_an_operator_reads_without_a_grant_and_acts_only_with_one(django_user_model):
    user = django_user_model.objects.create_user("op", is_staff=True)
    assert is_staff(user) and Actor.of_user(user).may(READ_SAGAS)
    assert permitted(Actor.of_user(user)) == [] and bulk.permitted(Actor.of_user(user)) == []
    codenames = ["retry_saga", "edit_saga_input", "bulk_operate"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    operator = Actor.of_user(django_user_model.objects.get(pk=user.pk))
    assert permitted(operator) == ["retry", "retry_with_input"]
    assert bulk.permitted(operator) == ["retry"]  # an input edit is one saga's decision
    operator.user.is_active = False
    assert not is_staff(operator.user) and not operator.may(READ_SAGAS)
    assert not operator.may("sagas.retry_saga")


@pytest.mark.parametrize(
    "actor, permission, what, message",
    [
        (token("start"), READ_SAGAS, "circuits", "this token may not read circuits (scope 'read')"),
        (token("read"), START_SAGA, "sagas", "token:t may not start sagas"),
        (token("read"), BULK_OPERATE, "sagas", "token:t lacks the permission sagas.bulk_operate"),
    ],
)
def test_a_refusal_says_what_is_missing(actor, permission, what, message):
    with pytest.raises(PermissionDenied) as refused:
        require(actor, permission, what)
    assert str(refused.value) == message
