"""Webhook deliveries connect only to public addresses, the ones they resolved and
checked themselves (server-side request forgery and DNS rebinding).

A URL's host is checked when the endpoint is registered (accounts.services
.webhook_url_check), but a name is only an address once resolved, and a name may
resolve to an internal host, or to a public one when checked and an internal one when
connected to. So each delivery resolves the name once, refuses it unless every address
is public, and connects to one of those addresses, with TLS still verified for the name.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import WebhookDelivery
from legal_requests.services.webhooks import webhooks_send_due
from tests import factories
from tests.release.receiver import webhook_receiver

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook-endpoints"
NAME = "hooks.chirp.example"
PUBLIC = "93.184.215.14"


class Network:
    """Stands in for DNS and TCP: what each name resolves to, and every connection
    attempted (each refused, so nothing leaves the machine)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []
        self.connections: list[tuple[str, int]] = []
        real_getaddrinfo = socket.getaddrinfo

        def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host not in answers:
                return real_getaddrinfo(host, port, *args, **kwargs)
            self.lookups.append(host)
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6,
                     "", (a, int(port))) for a in answers[host]]

        def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
            self.connections.append((address[0], address[1]))
            raise ConnectionRefusedError("refused by the test")

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket, "create_connection", create_connection)


def chirp() -> APIClient:
    _, key = factories.platform_with_key(name="Chirp")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def ping(url: str) -> WebhookDelivery:
    client = chirp()
    created = client.post(URL, {"url": url}, format="json")
    assert created.status_code == 201, created.content
    assert client.post(f"{URL}/{created.json()['id']}/ping").status_code == 202
    webhooks_send_due()
    return WebhookDelivery.objects.get(endpoint_id=created.json()["id"])


@pytest.mark.parametrize("addresses", [
    ["10.0.0.5"], ["127.0.0.1"], ["169.254.169.254"], ["192.168.1.20"], ["::1"],
    ["fd00::5"], ["100.64.0.1"], ["0.0.0.0"],  # noqa: S104 - an answer, nothing binds
    [PUBLIC, "10.0.0.5"],  # one internal answer is enough to refuse
])
def test_a_name_that_resolves_to_an_internal_address_is_not_connected_to(
    monkeypatch: pytest.MonkeyPatch, settings: Any, addresses: list[str]
) -> None:
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = False  # as in production
    network = Network(monkeypatch, {NAME: addresses})
    delivery = ping(f"https://{NAME}/escrow")
    delivery.refresh_from_db()
    assert network.connections == []
    assert delivery.last_error == "WebhookAddressRefused"
    assert delivery.delivered_at is None
    assert delivery.due_at > timezone.now()  # retried later, as any failed attempt


def test_each_attempt_connects_only_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # Refused connections are named by their cause, not by urllib's wrapper.
    network = Network(monkeypatch, {NAME: [PUBLIC]})
    delivery = ping(f"https://{NAME}/escrow")
    assert network.connections == [(PUBLIC, 443)]  # the checked address, not the name
    delivery.refresh_from_db()
    assert delivery.last_error == "ConnectionRefusedError"
    # The name now answers with an internal address (DNS rebinding): the retry resolves
    # it again, once, and connects nowhere.
    network.answers[NAME] = ["10.0.0.5"]
    WebhookDelivery.objects.update(due_at=timezone.now())
    webhooks_send_due()
    delivery.refresh_from_db()
    assert network.lookups == [NAME, NAME]
    assert network.connections == [(PUBLIC, 443)]
    assert delivery.last_error == "WebhookAddressRefused"


def test_no_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy would resolve and connect in the service's stead, past the address check.
    from legal_requests.services import webhooks

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    opener = webhooks.webhook_opener_build()
    assert not any(getattr(handler, "proxies", None) for handler in opener.handlers)


def test_loopback_is_reached_only_while_the_demo_allows_it(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = True
    with webhook_receiver() as receiver:
        delivery = ping(receiver.url)
        assert len(receiver.received) == 1
        # Turned off after the endpoint was registered: the next attempt is refused.
        settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = False
        WebhookDelivery.objects.filter(id=delivery.id).update(
            delivered_at=None, due_at=timezone.now())
        webhooks_send_due()
        assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert delivery.last_error == "WebhookUrlRejected"
