"""Formats of string fields: each check beside the JSON Schema that documents it.

A check takes the client's value and returns the stored value, or raises
``ValueError`` with a message for the client.  A ``Format`` pairs a check
with what the OpenAPI document and the manifest say of it, so a field that
names a format gets its validation, its documented pattern and its filter
value parsing from one place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from edm.crm.engine import patterns
from edm.kit.ids import parse_id, parse_user_id
from edm.kit.types import iso_utc_millis

__all__ = [
    "Format",
    "TRIMMED_NAME",
    "URL",
    "HOSTNAME",
    "PHONE",
    "USER_ID",
    "record_id",
    "with_article",
    "COUNTRIES",
    "text_problem",
    "plain_text",
    "trimmed",
    "user_id",
    "url",
    "hostname",
    "phone",
    "country",
    "rfc3339",
    "format_datetime",
    "json_scalar",
]

COUNTRIES = frozenset(
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW "
    "BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI "
    "FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN "
    "IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME "
    "MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF "
    "PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE "
    "YT ZA ZM ZW".split()
)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PHONE = re.compile(r"[0-9 +\-().x]*[0-9][0-9 +\-().x]*")
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)
_INT64 = 2**63


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (NUL, unpaired surrogates), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates"
    return None


def plain_text(value: str) -> str:
    """Any stored string."""
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def trimmed(max_length: int) -> Callable[[str], str]:
    """Text of 1 to ``max_length`` characters once trimmed of surrounding white space."""

    def check(value: str) -> str:
        kept = plain_text(value).strip()
        if not kept:
            raise ValueError("must not be empty or only white space")
        if len(kept) > max_length:
            raise ValueError(f"must be at most {max_length} characters after trimming")
        return kept

    return check


def user_id(value: str) -> str:
    canonical = parse_user_id(value)
    if canonical is None:
        raise ValueError("must be a user id of the form usr-<uuid>")
    return canonical


def url(value: str) -> str:
    plain_text(value)
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError("must not contain white space or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("must be an absolute http or https URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    return value


def hostname(value: str) -> str:
    host = plain_text(value).strip().lower().removesuffix(".")
    if any(sep in host for sep in ("/", ":", "@", "?", "#")):
        raise ValueError("must be a bare hostname, without scheme, path or port")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("must be a valid hostname") from None
    labels = host.split(".")
    if (
        not host
        or len(host) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError("must be a valid hostname, like example.com")
    return host


def phone(value: str) -> str:
    if not _PHONE.fullmatch(value):
        raise ValueError("must hold digits, spaces and + - ( ) . x only")
    return value


def country(value: str) -> str:
    code = value.upper()
    if code not in COUNTRIES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, like US")
    return code


def rfc3339(value: str) -> datetime:
    """An RFC 3339 date-time with offset → aware UTC datetime, millisecond precision."""
    match = _RFC3339.fullmatch(value)
    if not match:
        raise ValueError("must be an RFC 3339 date-time with an offset, like 2024-05-01T12:00:00Z")
    date, time, fraction, offset = match.groups()
    millis = (fraction or "")[:3].ljust(3, "0")
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(f"{date}T{time}.{millis}{offset}")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("is not a valid date-time") from None


format_datetime = iso_utc_millis  # RFC 3339 in UTC with ``Z`` and milliseconds


def json_scalar(value: object) -> str | None:
    """Why ``value`` is not a storable JSON scalar, or None when it is."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, int):
        return None if -_INT64 <= value < _INT64 else "integers must fit in 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite"
    return "must be a string, number, boolean or null"


# --------------------------------------------------------------------------- formats


def _same(value: str) -> str:
    return value


@dataclass(frozen=True)
class Format:
    """A string field's format: its check, and what the API reference says of it.

    ``input_schema``/``output_schema`` are JSON Schema keywords beside
    ``"type": "string"`` for a request and a response value; when
    ``sets_length`` they carry the length limits themselves.  ``filter_value``
    reads a ``filter[...]`` value (raising ``ValueError`` with a message for a
    400); ``filter_item`` is the pattern of one item of an ``in`` list.
    """

    name: str | None  # as the manifest's limits name it (None: not named)
    check: Callable[[str], Any]
    input_schema: Mapping[str, Any] = field(default_factory=dict)
    output_schema: Mapping[str, Any] = field(default_factory=dict)
    input_max_length: int | None = None  # what a request may send, when longer than what is stored
    sets_length: bool = False
    limits: Mapping[str, Any] = field(default_factory=dict)  # extra manifest limits
    note: str = ""  # appended to the field's description in the API reference
    filter_value: Callable[[str], Any] = _same
    filter_item: str | None = None
    prefix: str | None = None  # for record ids


TRIMMED_NAME = Format(
    None,
    trimmed(255),
    input_schema={"minLength": 1, "maxLength": 4096, "pattern": patterns.trimmed_text(255)},
    output_schema={"minLength": 1, "maxLength": 255},
    input_max_length=4096,
    sets_length=True,
    limits={"min_length": 1, "trimmed": True},
    note=" Trimmed of surrounding white space.",
)
URL = Format(
    "url", url, input_schema={"format": "uri", "pattern": patterns.URL}, output_schema={"format": "uri"}
)
HOSTNAME = Format(
    "hostname",
    hostname,
    input_schema={"format": "hostname", "pattern": patterns.HOSTNAME},
    output_schema={"format": "hostname"},
    input_max_length=1024,  # the check limits the normalized length
    note=" Stored lower-case.",
    filter_value=str.lower,
)
PHONE = Format("phone", phone, input_schema={"pattern": patterns.PHONE}, output_schema={"pattern": patterns.PHONE})
USER_ID = Format(
    "user_id",
    user_id,
    input_schema={"pattern": patterns.USER_ID},
    output_schema={"pattern": patterns.USER_ID},
    filter_value=lambda raw: parse_user_id(raw) or raw,
)


def with_article(noun: str) -> str:
    """``account`` → ``an account``, for messages and the API reference."""
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def record_id(prefix: str, noun: str) -> Format:
    """Ids of the records of one resource: ``<prefix>_<ULID>``, also ``<prefix>-<uuid>`` on input."""

    def check(value: str) -> str:
        canonical = parse_id(prefix, value)
        if canonical is None:
            raise ValueError(f"must be {with_article(noun)} id ({prefix}_<ULID> or {prefix}-<uuid>)")
        return canonical

    def filter_value(raw: str) -> str:
        canonical = parse_id(prefix, raw)
        if canonical is None:
            raise ValueError(f"must be {with_article(noun)} id")
        return canonical

    return Format(
        f"{noun}_id",
        check,
        input_schema={"pattern": f"^{patterns.record_id(prefix)}$"},
        output_schema={"pattern": patterns.canonical_record_id(prefix)},
        note=f" Input also accepts `{prefix}-<uuid>`; output is canonical.",
        filter_value=filter_value,
        filter_item=patterns.record_id(prefix),
        prefix=prefix,
    )
