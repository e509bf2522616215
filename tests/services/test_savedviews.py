"""Saved views in the service layer: each operator sees their own and the shared ones,
never another's private view; only the owner (or, for a shared view, a holder of the
model's change/delete permission) edits or deletes; filters and columns are checked."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied

from sagas.models import SavedView
from sagas.services import savedviews
from sagas.services.actors import Actor
from sagas.services.savedviews import InvalidView, ViewNotFound

pytestmark = pytest.mark.django_db


def operator(name: str, *permissions: str) -> Actor:
    user = User.objects.create_user(name, password="pw", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return Actor.of_user(User.objects.get(pk=user.pk))  # fresh: no cached permissions


@pytest.fixture
def ann():
    return operator("ann")


@pytest.fixture
def bob():
    return operator("bob")


def test_create_cleans_the_filters_and_columns(ann):
    view = savedviews.create(
        ann,
        name="  Failed orders ",
        querystring="?q=&status=failed&type=order",
        columns="reason,status",
        shared=True,
    )
    view.refresh_from_db()
    assert view.name == "Failed orders" and view.owner.username == "ann" and view.shared
    # Known parameters only, in a stable order, blanks dropped; columns in the list's order.
    assert view.querystring == "type=order&status=failed"
    assert view.columns == "id,status,reason"
    assert savedviews.list_url_query(view) == (
        f"type=order&status=failed&columns=id%2Cstatus%2Creason&view={view.pk}"
    )


def test_each_operator_sees_their_own_and_the_shared_views_never_anothers_private(ann, bob):
    mine = savedviews.create(ann, name="mine", querystring="status=failed")
    shared = savedviews.create(bob, name="team", querystring="status=compensated", shared=True)
    private = savedviews.create(bob, name="bob's", querystring="status=running")
    assert list(savedviews.visible(ann)) == [mine, shared]  # own first, then shared
    assert set(savedviews.visible(bob)) == {shared, private}
    assert savedviews.get(ann, shared.pk) == shared
    with pytest.raises(ViewNotFound):
        savedviews.get(ann, private.pk)
    token = Actor(name="token:t", scopes=frozenset({"read"}))
    assert list(savedviews.visible(token)) == []
    with pytest.raises(PermissionDenied):
        savedviews.create(token, name="a token's")


def test_only_the_owner_or_a_permission_holder_edits_or_deletes(ann, bob):
    shared = savedviews.create(ann, name="team", querystring="status=failed", shared=True)
    with pytest.raises(PermissionDenied):
        savedviews.update(bob, shared.pk, name="hijacked", shared=True)
    with pytest.raises(PermissionDenied):
        savedviews.delete(bob, shared.pk)
    assert SavedView.objects.get(pk=shared.pk).name == "team"
    editor = operator("eve", "change_savedview")
    savedviews.update(editor, shared.pk, name="team view", columns="status", shared=True)
    assert SavedView.objects.get(pk=shared.pk).name == "team view"
    with pytest.raises(PermissionDenied):
        savedviews.delete(editor, shared.pk)  # changing is not deleting
    savedviews.delete(operator("dan", "delete_savedview"), shared.pk)
    assert not SavedView.objects.filter(pk=shared.pk).exists()
    # The permission reaches shared views only: a private one stays its owner's.
    private = savedviews.create(ann, name="private")
    with pytest.raises(ViewNotFound):
        savedviews.update(operator("carl", "change_savedview"), private.pk, name="x")
    savedviews.update(ann, private.pk, name="still mine", shared=False)
    savedviews.delete(ann, private.pk)


@pytest.mark.parametrize(
    ("querystring", "field", "words"),
    [
        ("cursor=abc", "filters", "unknown filter 'cursor'"),
        ("status=failed&status=running", "filters", "twice"),
        ("status=exploded", "filters", "status must be one of"),
        ("from=yesterday", "filters", "date and time"),
        ("from=0001-01-01T00:00", "filters", "between"),
        ("problem=-3", "filters", "problem"),
        ("q=" + "x" * 201, "filters", "longer than 200"),
        ("q=a%00b", "filters", "NUL"),
        ("a" * 2001, "filters", "longer than 2000"),
        ("status", "filters", "not a query string"),
    ],
)
def test_bad_filters_are_refused_naming_the_problem(ann, querystring, field, words):
    with pytest.raises(InvalidView) as refused:
        savedviews.create(ann, name="v", querystring=querystring)
    assert refused.value.field == field and words in str(refused.value)


def test_bad_names_and_columns_are_refused(ann):
    for name, words in [("", "needs a name"), ("x" * 101, "at most 100"), ("a\x00", "NUL")]:
        with pytest.raises(InvalidView, match=words):
            savedviews.create(ann, name=name)
    with pytest.raises(InvalidView, match="unknown column 'password'") as refused:
        savedviews.create(ann, name="v", columns="status,password")
    assert refused.value.field == "columns"
    savedviews.create(ann, name="v")
    with pytest.raises(InvalidView, match="already have a view named 'v'"):
        savedviews.create(ann, name="v")
    assert SavedView.objects.count() == 1
