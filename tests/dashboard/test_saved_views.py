"""Saved views on the pages: "Save this view" from the list (CSRF), the view's URL opening
the list with its filters and columns, the navigation's menu, the views page, edit and
delete for those allowed; and the detail page's history download."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from sagas.models import SavedView
from sagas.services import savedviews
from sagas.services.actors import Actor
from tests.factories import start
from tests.states import put

pytestmark = pytest.mark.django_db

XSS = "<script>alert('view')</script>"


def heads(html: str) -> list[str]:
    """The list table's column headings."""
    table = re.search(r'<table class="sagas cards" id="saga-table">.*?</thead>', html, re.S)
    return re.findall(r'<th scope="col" data-col="(\w+)"', table.group(0))


def login(name: str, **kw) -> tuple[User, Client]:
    user = User.objects.create_user(name, password="pw", is_staff=True, **kw)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return user, client


def csrf(client: Client) -> str:
    client.get(reverse("saga-list"))  # sets the csrftoken cookie
    return client.cookies["csrftoken"].value


def test_save_from_the_list_then_open_the_views_url_with_its_filters_and_columns():
    user, client = login("ann")
    failed = put(start("ledger", {}, correlation_id="ord-1"), status="failed", reason="boom")
    start("ledger", {}, correlation_id="ord-2")
    page = client.get(reverse("saga-list"), {"status": "failed"}).content.decode()
    assert 'name="filters" value="status=failed"' in page and 'id="export-csv"' in page
    form = {"filters": "status=failed", "name": XSS, "columns": ["status", "reason"]}
    assert client.post(reverse("saved-view-save"), form).status_code == 403  # no CSRF token
    saved = client.post(reverse("saved-view-save"), form, HTTP_X_CSRFTOKEN=csrf(client))
    view = SavedView.objects.get()
    assert saved.status_code == 302 and saved["Location"] == reverse("saved-view", args=[view.pk])
    assert (view.owner, view.querystring, view.columns, view.shared) == (
        user,
        "status=failed",
        "id,status,reason",
        False,
    )
    opened = client.get(reverse("saved-view", args=[view.pk]), follow=True)
    html = opened.content.decode()
    assert opened.redirect_chain[0][0].startswith(reverse("saga-list") + "?status=failed&")
    assert heads(html) == ["id", "status", "reason"]
    assert str(failed.id)[:8] in html and "ord-2" not in html
    row = re.search(rf'<tr data-id="{failed.id}".*?</tr>', html, re.S).group(0)
    assert re.findall(r'data-col="(\w+)"', row) == ["id", "status", "reason"]
    # The name is text wherever it shows: heading, navigation.
    assert XSS not in html and "&lt;script&gt;alert(&#x27;view&#x27;)&lt;/script&gt;" in html
    assert 'id="view-name"' in html
    # The list's live socket renders its rows in the view's columns too.
    config = json.loads(re.search(r'id="list-config"[^>]*>(.*?)</script>', html).group(1))
    assert config["params"] == "status=failed&columns=id%2Cstatus%2Creason"


def test_a_bad_view_is_not_saved_and_the_list_says_why():
    _, client = login("ann")
    response = client.post(
        reverse("saved-view-save"),
        {"filters": "status=failed", "name": "", "columns": ["status"]},
        HTTP_X_CSRFTOKEN=csrf(client),
        follow=True,
    )
    assert not SavedView.objects.exists()
    assert "The view was not saved: a view needs a name" in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("saga-list") + "?status=failed"


def test_the_default_list_shows_the_default_columns():
    _, client = login("ann")
    html = client.get(reverse("saga-list")).content.decode()
    assert heads(html) == [
        "id",
        "type",
        "status",
        "correlation_id",
        "step",
        "started",
        "updated",
        "reason",
    ]
    refused = client.get(reverse("saga-list"), {"columns": "status,secret"})
    assert refused.status_code == 400 and "unknown column" in refused.content.decode()


def test_navigation_lists_own_and_shared_views_not_anothers_private():
    ann, client = login("ann")
    bob = User.objects.create_user("bob", password="pw", is_staff=True)
    mine = savedviews.create(Actor.of_user(ann), name="Ann's failures", querystring="status=failed")
    team = savedviews.create(Actor.of_user(bob), name="Team queue", shared=True)
    hidden = savedviews.create(Actor.of_user(bob), name="Bob's secret")
    html = client.get(reverse("home")).content.decode()
    menu = re.search(r'<details class="views-menu".*?</details>', html, re.S).group(0)
    assert reverse("saved-view", args=[mine.pk]) in menu
    assert reverse("saved-view", args=[team.pk]) in menu
    assert "Bob&#x27;s secret" not in html and reverse("saved-view", args=[hidden.pk]) not in html
    listing = client.get(reverse("saved-views")).content.decode()
    assert "Team queue" in listing and "Bob&#x27;s secret" not in listing
    assert client.get(reverse("saved-view", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("saved-view-edit", args=[hidden.pk])).status_code == 404
    # Ann may open Bob's shared view, but neither edit nor delete it.
    assert client.get(reverse("saved-view", args=[team.pk])).status_code == 302
    assert client.get(reverse("saved-view-edit", args=[team.pk])).status_code == 403
    token = csrf(client)
    delete = reverse("saved-view-delete", args=[team.pk])
    assert client.post(delete, HTTP_X_CSRFTOKEN=token).status_code == 403
    assert SavedView.objects.filter(pk=team.pk).exists()
    assert client.post(reverse("saved-view-delete", args=[mine.pk])).status_code == 403  # CSRF
    done = client.post(reverse("saved-view-delete", args=[mine.pk]), HTTP_X_CSRFTOKEN=token)
    assert done.status_code == 302 and not SavedView.objects.filter(pk=mine.pk).exists()


def test_the_owner_edits_a_view():
    ann, client = login("ann")
    view = savedviews.create(Actor.of_user(ann), name="v1", querystring="status=failed")
    url = reverse("saved-view-edit", args=[view.pk])
    assert 'value="status=failed"' in client.get(url).content.decode()
    token = csrf(client)
    bad = client.post(url, {"name": "v2", "filters": "colour=red"}, HTTP_X_CSRFTOKEN=token)
    assert bad.status_code == 400 and "unknown filter" in bad.content.decode()
    form = {"name": "v2", "filters": "status=running", "columns": ["finished"], "shared": "on"}
    assert client.post(url, form, HTTP_X_CSRFTOKEN=token).status_code == 302
    view.refresh_from_db()
    assert (view.name, view.querystring, view.columns, view.shared) == (
        "v2",
        "status=running",
        "id,finished",
        True,
    )


def test_pages_need_a_staff_login():
    view = savedviews.create(
        Actor.of_user(User.objects.create_user("ann", password="pw", is_staff=True)), name="v"
    )
    for url in [reverse("saved-views"), reverse("saved-view", args=[view.pk])]:
        response = Client().get(url)
        assert response.status_code == 302 and "/login" in response["Location"]


def test_the_detail_page_downloads_the_history_document():
    root = User.objects.create_superuser("root", password="pw-root")
    client = Client()
    client.force_login(root)
    saga = start("ledger", {"sku": "S-1"}, correlation_id="ord-9")
    page = client.get(reverse("saga-detail", args=[saga.id])).content.decode()
    url = reverse("saga-history", args=[saga.id])
    assert f'<a id="history-download" href="{url}" download>Download history (JSON)</a>' in page
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == (
        f'attachment; filename="saga-{saga.id}-history.json"'
    )
    doc = json.loads(response.content)
    assert doc["saga"]["id"] == str(saga.id) and doc["saga"]["input"] == {"sku": "S-1"}
    assert [e["type"] for e in doc["events"]] == ["saga_started"]
    missing = client.get(reverse("saga-history", args=["00000000-0000-0000-0000-000000000000"]))
    assert missing.status_code == 404
    assert Client().get(url).status_code == 302  # login first
