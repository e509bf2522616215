"""{% saved_views_nav %}: the navigation's menu of saved views (the user's, then shared)."""

from __future__ import annotations

from typing import Any

from django import template

from sagas.services import savedviews
from sagas.services.actors import Actor, is_staff

register = template.Library()


@register.inclusion_tag("dashboard/saved_views_nav.html", takes_context=True)
def saved_views_nav(context: template.Context) -> dict[str, Any]:
    user = context.get("user")
    if not is_staff(user):
        return {"views": [], "more": False, "page": context.get("page")}
    found = list(savedviews.visible(Actor.of_user(user))[: savedviews.NAV_VIEWS + 1])
    return {
        "views": found[: savedviews.NAV_VIEWS],
        "more": len(found) > savedviews.NAV_VIEWS,
        "page": context.get("page"),
        "user_id": user.pk,
    }
