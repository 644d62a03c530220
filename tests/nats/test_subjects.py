"""Subjects: ``<prefix>.<tenant>.<resource>.<op>``, tenant ids encoded so no tenant reaches another's subjects."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from edm.kit.nats import event_subject, subject_token


@pytest.mark.parametrize(
    ("tenant", "token"),
    [
        ("acme", "acme"),
        ("acme-eu_1:prod@x", "acme-eu_1:prod@x"),
        ("acme.eu", "acme%2Eeu"),
        ("*", "%2A"),
        (">", "%3E"),
        ("a b\tc", "a%20b%09c"),
        ("100%", "100%25"),
        ("zürich", "z%C3%BCrich"),
    ],
)
def test_tenant_tokens_hold_no_dot_wildcard_or_space_and_decode_back(tenant: str, token: str) -> None:
    assert subject_token(tenant) == token
    assert not set(token) & set(".*> \t\r\n")
    assert unquote(token) == tenant


def test_distinct_tenants_never_share_a_token() -> None:
    tenants = ["a.b", "a%2Eb", "a", "b", "a b", "a%20b", "%", "%25"]
    assert len({subject_token(t) for t in tenants}) == len(tenants)


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError):
        subject_token("")


def test_event_subject() -> None:
    assert event_subject("edm", "acme.eu", "accounts", "account.purged") == "edm.acme%2Eeu.accounts.purged"
