"""The direct check of an enrolment body never accepts what the serializers refuse.

`enrolment_input_valid` may only say "valid" (with the serializers' validated data) or
"not sure"; every refusal, and its error body, stays with the DRF serializers. So the
property tested here is one-sided: whenever it accepts, the serializers accept the same
body with equal data. And it must accept the ordinary bodies, or it saves nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from escrow.vault.api.enrolment_input import enrolment_input_valid
from escrow.vault.api.enrolments import EnrolmentCreateApi
from tests.factories import identity_payload


def serializers_verdict(body: Any) -> dict[str, Any] | None:
    payload = EnrolmentCreateApi.Input(data=body)
    return payload.validated_data if payload.is_valid() else None


def test_an_ordinary_body_is_accepted_as_the_serializers_accept_it() -> None:
    body = identity_payload()
    accepted = enrolment_input_valid(body)
    assert accepted is not None
    assert accepted == serializers_verdict(body)
    assert accepted["identity"]["date_of_birth"] == date(1987, 4, 12)
    assert accepted["evidence"]["verified_at"].tzinfo is not None


def test_a_minimal_body_is_accepted() -> None:
    body = {"identity": {"email": " ann@example.org "}, "evidence": identity_payload()["evidence"]}
    accepted = enrolment_input_valid(body)
    assert accepted is not None
    assert accepted == serializers_verdict(body)
    assert accepted["identity"] == {"email": "ann@example.org"}  # trimmed, as DRF trims


def _without(path: tuple[str, ...]) -> Any:
    def mutate(body: dict[str, Any]) -> None:
        *parents, name = path
        node = body
        for parent in parents:
            node = node[parent]
        node.pop(name)

    return mutate


def _set(path: tuple[str, ...], value: Any) -> Any:
    def mutate(body: dict[str, Any]) -> None:
        *parents, name = path
        node = body
        for parent in parents:
            node = node[parent]
        node[name] = value

    return mutate


# Each of these bodies is refused by the serializers; the direct check must not accept it.
REFUSED = [
    _set(("identity", "email"), "not-an-email"),
    _set(("identity", "email"), "a" * 250 + "@b.org"),
    _set(("identity", "phone"), "0770"),
    _set(("identity", "phone"), "+44 7700 900000"),
    _set(("identity", "date_of_birth"), "2999-01-01"),
    _set(("identity", "date_of_birth"), "1899-12-31"),
    _set(("identity", "date_of_birth"), "12/04/1987"),
    _set(("identity", "date_of_birth"), "1987-04-12T00:00:00Z"),
    _set(("identity", "date_of_birth"), 19870412),
    _set(("identity", "given_name"), "x" * 201),
    _set(("identity", "given_name"), "   "),
    _set(("identity", "given_name"), ""),
    _set(("identity", "given_name"), None),
    _set(("identity", "given_name"), 42),
    _set(("identity", "given_name"), ["Ann"]),
    _set(("identity", "given_name"), "An\x00n"),
    _set(("identity", "given_name"), "An\ud800n"),
    _set(("identity", "nickname"), "x"),
    _set(("identity", "document", "type"), "library_card"),
    _set(("identity", "document", "type"), " passport"),
    _set(("identity", "document", "number"), "-"),
    _set(("identity", "document", "extra"), "x"),
    _without(("identity", "document", "country")),
    _set(("identity", "postal_address", "country"), "gbr"),
    _set(("identity", "postal_address", "lines"), []),
    _set(("identity", "postal_address", "lines"), ["a", "b", "c", "d", "e"]),
    _set(("identity", "postal_address", "lines"), "1 High Street"),
    _set(("identity", "postal_address", "lines"), [1]),
    _set(("identity", "postal_address", "lines"), ["x" * 201]),
    _set(("identity", "postal_address"), None),
    _set(("identity", "postal_address"), []),
    _set(("evidence", "assurance_level"), "ultra"),
    _set(("evidence", "assurance_level"), 3),
    _set(("evidence", "verified_at"), "2999-01-01T00:00:00Z"),
    _set(("evidence", "verified_at"), "2026-11-01T25:00:00Z"),
    _set(("evidence", "verified_at"), "yesterday"),
    _set(("evidence", "provider"), "p" * 101),
    _without(("evidence", "reference")),
    _without(("evidence",)),
    _without(("identity",)),
    _set(("evidence",), None),
    _set(("identity",), "Ann"),
    _set(("extra",), {}),
]


@pytest.mark.parametrize("mutate", REFUSED)
def test_what_the_serializers_refuse_is_left_to_them(mutate: Any) -> None:
    body = identity_payload()
    mutate(body)
    assert serializers_verdict(body) is None
    assert enrolment_input_valid(body) is None


@pytest.mark.parametrize("body", [None, [], "x", 1, {}, {"identity": {"given_name": "Ann"},
                                                      "evidence": identity_payload()["evidence"]}])
def test_bodies_that_are_not_enrolments_are_left_to_the_serializers(body: Any) -> None:
    assert enrolment_input_valid(body) is None


_texts = st.one_of(
    st.text(max_size=8),
    st.text(alphabet=" \t\n\x00AZaz09+-./@\ud800é", max_size=12),
    st.sampled_from(["GB", "gb", "+447700900123", "P1234567", "passport", "high", "very_high",
                     "ann@example.org", "ann@", "1990-01-01", "1990-1-1", "19900101",
                     "2026-11-01T10:00:00Z", "2026-11-01T10:00:00+05:00", "2026-11-01 10:00",
                     "2026-11-01T10:00:00", " GB", "x" * 200, "x" * 201]),
)
_values = st.one_of(
    _texts, st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(),
    st.lists(_texts, max_size=6), st.dictionaries(_texts, _texts, max_size=2),
)
_paths = st.sampled_from([
    ("identity", "given_name"), ("identity", "family_name"), ("identity", "date_of_birth"),
    ("identity", "email"), ("identity", "phone"), ("identity", "postal_address"),
    ("identity", "postal_address", "lines"), ("identity", "postal_address", "locality"),
    ("identity", "postal_address", "postal_code"), ("identity", "postal_address", "country"),
    ("identity", "document"), ("identity", "document", "type"),
    ("identity", "document", "number"), ("identity", "document", "country"),
    ("identity", "unknown"), ("evidence", "provider"), ("evidence", "reference"),
    ("evidence", "assurance_level"), ("evidence", "verified_at"), ("evidence",),
    ("identity",), ("unknown",),
])
_mutations = st.lists(
    st.one_of(st.builds(_set, _paths, _values), st.builds(_without, _paths)), max_size=4,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations)
@example([_set(("identity", "postal_address", "lines"), [" a ", "b"])])
def test_whatever_it_accepts_the_serializers_accept_alike(mutations: list[Any]) -> None:
    body = identity_payload()
    for mutate in mutations:
        try:
            mutate(body)
        except (KeyError, TypeError, AttributeError):
            continue  # the path runs through a value an earlier mutation replaced
    accepted = enrolment_input_valid(body)
    if accepted is not None:
        assert accepted == serializers_verdict(body)


def test_the_date_of_birth_bounds_are_the_serializers() -> None:
    today = timezone.now().date()
    for dob, valid in [(today, True), (today + timedelta(days=1), False),
                       (date(1900, 1, 1), True)]:
        body = identity_payload(date_of_birth=dob.isoformat())
        assert (enrolment_input_valid(body) is not None) is valid
        assert (serializers_verdict(body) is not None) is valid
