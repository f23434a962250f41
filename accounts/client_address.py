"""The client's address, as far as this deployment can vouch for it.

X-Forwarded-For is written by whoever sends the request, so only the entries our own
proxies appended can be trusted. With ESCROW_TRUSTED_PROXY_COUNT = N proxies in front of
the service, each appending the address it received the request from, the Nth entry
from the right is the address the outermost proxy saw: the client. Anything to its
left is the client's own claim and is ignored. With N = 0 (no proxy, the default) the
header is ignored entirely and the peer address (REMOTE_ADDR) is the client.

The sign-in throttle, the anonymous rate limit and the sign-in lockouts (django-axes'
AXES_CLIENT_IP_CALLABLE) all use this one rule, so a forged header moves none of them.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _normalised(address: str) -> str | None:
    try:
        return ipaddress.ip_address(address.strip()).compressed
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address under the configured proxy count; None if unknown."""
    peer = _normalised(request.META.get("REMOTE_ADDR") or "")
    trusted_proxies = int(getattr(settings, "ESCROW_TRUSTED_PROXY_COUNT", 0))
    if trusted_proxies <= 0:
        return peer
    forwarded = [
        entry.strip()
        for entry in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
        if entry.strip()
    ]
    if not forwarded:
        return peer
    # Fewer entries than proxies: the request skipped the outer proxies, so the
    # leftmost entry (appended by the first proxy it did pass) is its sender.
    chosen = forwarded[-min(trusted_proxies, len(forwarded))]
    # Our proxies write well-formed addresses; anything else was not written by them.
    return _normalised(chosen) or peer
