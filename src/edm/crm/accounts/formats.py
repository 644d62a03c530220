"""Checks and normalizations for the formatted string fields of SPEC §1.

Each function takes the client's value and returns the stored value, or
raises ``ValueError`` with a message for the client.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

from edm.kit.ids import parse_id, parse_user_id
from edm.kit.types import iso_utc_millis

__all__ = [
    "text_problem",
    "plain_text",
    "account_name",
    "account_id",
    "user_id",
    "url",
    "hostname",
    "phone",
    "country",
    "rfc3339",
    "format_datetime",
    "json_scalar",
]

_COUNTRIES = frozenset(
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


def account_name(value: str) -> str:
    trimmed = plain_text(value).strip()
    if not trimmed:
        raise ValueError("must not be empty or only white space")
    if len(trimmed) > 255:
        raise ValueError("must be at most 255 characters after trimming")
    return trimmed


def account_id(value: str) -> str:
    canonical = parse_id("acc", value)
    if canonical is None:
        raise ValueError("must be an account id (acc_<ULID> or acc-<uuid>)")
    return canonical


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
    if code not in _COUNTRIES:
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
        return parsed.astimezone(timezone.utc)
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
