"""Template tags for the console's layout."""

from __future__ import annotations

from typing import Any

from django import template

from console.access import staff_roles

register = template.Library()


@register.simple_tag(takes_context=True)
def console_roles(context: dict[str, Any]) -> set[str]:
    """The signed-in staff member's roles, for the navigation; also on Django's error pages."""
    request = context.get("request")
    if request is None or not hasattr(request, "user"):
        return set()
    return staff_roles(request)
