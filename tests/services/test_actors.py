"""Who may do what, decided in one place: the table of what each token scope grants, an
actor's permissions, the refusals, and the limits of a reason, met in the service layer
whatever face the request came through."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied

from sagas.exceptions import ReasonRequired
from sagas.models import ApiToken, BulkOperation
from sagas.services import bulk
from sagas.services.actions import (
    ACTIONS,
    MAX_REASON,
    ReasonTooLong,
    SagaNotFound,
    perform,
    permitted,
)
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


def test_perform_itself_refuses_a_reason_longer_than_any_face_accepts():
    # The reason is judged before the saga is looked up, so no saga is needed here.
    operator = token("operate")
    with pytest.raises(ReasonTooLong, match=f"longer than {MAX_REASON} characters"):
        perform(uuid.uuid4(), "retry", actor=operator, version=1, reason="x" * (MAX_REASON + 1))
    with pytest.raises(SagaNotFound):
        perform(uuid.uuid4(), "retry", actor=operator, version=1, reason="x" * MAX_REASON)


@pytest.mark.parametrize(
    "reason, words", [("x" * (MAX_REASON + 1), "longer than"), ("by hand\x00", "NUL")]
)
def test_a_bulk_operation_refuses_a_reason_a_single_action_would_refuse(reason, words):
    issued, _ = ApiToken.issue("root", ["operate"])
    with pytest.raises(ReasonRequired, match=words):
        bulk.start("skip", bulk.select(ids=[]), Actor.of_token(issued), reason=reason)
    assert not BulkOperation.objects.exists()
