"""NATS subjects for change events: ``<prefix>.<tenant_id>.<resource>.<op>``.

A subject token may not hold ``.``, ``*``, ``>`` or whitespace, and tenant
ids are the issuer's to choose, so every token is percent-encoded: printable
ASCII stays as it is except ``.``, ``*``, ``>`` and ``%`` itself; anything
else (those four, whitespace, control characters, non-ASCII) becomes ``%XX``
for each byte of its UTF-8.  The encoding is one-to-one, so two tenants never
share a subject, and ``urllib.parse.unquote`` gives the id back
(docs/nats.md).
"""

from __future__ import annotations

__all__ = ["subject_token", "event_subject"]

_KEPT = frozenset(chr(c) for c in range(0x21, 0x7F)) - set(".*>%")


def subject_token(text: str) -> str:
    """``text`` as one subject token (``acme.eu`` → ``acme%2Eeu``)."""
    if not text:
        raise ValueError("a subject token cannot be empty")
    if all(c in _KEPT for c in text):
        return text  # the common case, without building anything
    return "".join(c if c in _KEPT else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def event_subject(prefix: str, tenant_id: str, resource: str, event_type: str) -> str:
    """The subject of one event: ``account.updated`` of tenant ``acme`` → ``edm.acme.accounts.updated``."""
    op = event_type.rpartition(".")[2]
    return f"{prefix}.{subject_token(tenant_id)}.{subject_token(resource)}.{subject_token(op)}"
