"""Regular expressions that describe, in the OpenAPI document, what the server accepts.

Valid both in ECMA-262 (what JSON Schema validators use) and in Python;
ASCII classes spelled out, since ``\\d`` and ``\\s`` differ.  Where the server
normalizes input (trimming, splitting comma lists, bounding integers to 64
bits) the pattern spells the rule out, so that schemathesis can check the
document and the server against each other in both directions.
"""

from __future__ import annotations

import sys

__all__ = [
    "CONTROL",
    "NO_NUL",
    "QUERY_TEXT",
    "QUERY_TEXT_NONEMPTY",
    "trimmed_text",
    "search_term",
    "record_id",
    "canonical_record_id",
    "USER_ID",
    "PHONE",
    "URL",
    "HOSTNAME",
    "DATE_TIME_RANGE",
    "DATE_TIME_ITEM",
    "DATE_TIME_OUT",
    "NUMBER_ITEM",
    "INT64_MIN",
    "INT64_MAX",
    "INT64_ITEM",
    "ETAG_LIST",
    "at_most",
    "comma_list",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
CONTROL = r"\x00-\x1f\x7f"  # what query values may not contain
_SPACES = [c for c in range(sys.maxunicode + 1) if chr(c).isspace()]  # what str.strip() removes
assert max(_SPACES) < 0x10000, "\\uXXXX escapes below cover the Basic Multilingual Plane only"
_WHITESPACE = "".join(f"\\u{c:04x}" for c in _SPACES)
_QUERY_WHITESPACE = "".join(f"\\u{c:04x}" for c in _SPACES if c >= 0x20)  # the others are refused anyway

NO_NUL = r"^[^\x00]*$"
QUERY_TEXT = rf"^[^{CONTROL}]*$"
QUERY_TEXT_NONEMPTY = rf"^[^{CONTROL}]+$"


def trimmed_text(max_length: int) -> str:
    """1 to ``max_length`` characters once white space is trimmed from both ends."""
    return (
        rf"^[{_WHITESPACE}]*[^\x00{_WHITESPACE}](?:[^\x00]{{0,{max_length - 2}}}[^\x00{_WHITESPACE}])?"
        rf"[{_WHITESPACE}]*$"
    )


def search_term(max_length: int) -> str:
    """``q``: at most ``max_length`` characters once trimmed, no control characters."""
    return (
        rf"^[{_QUERY_WHITESPACE}]*(?:[^{CONTROL}{_QUERY_WHITESPACE}]"
        rf"(?:[^{CONTROL}]{{0,{max_length - 2}}}[^{CONTROL}{_QUERY_WHITESPACE}])?)?[{_QUERY_WHITESPACE}]*$"
    )


_CROCKFORD = "0-9A-HJKMNP-TV-Za-hjkmnp-tv-z"
_HEX = "[0-9a-fA-F]"


def record_id(prefix: str) -> str:
    """An id as input may spell it (no anchors): ``<prefix>_<ULID>`` or ``<prefix>-<uuid>``."""
    return rf"(?:{prefix}_[0-7][{_CROCKFORD}]{{25}}|{prefix}-{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}})"


def canonical_record_id(prefix: str) -> str:
    """An id as output spells it."""
    return rf"^{prefix}_[0-7][0-9A-HJKMNP-TV-Z]{{25}}$"


USER_ID = rf"^usr-{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}$"
PHONE = r"^[0-9 +().x-]*[0-9][0-9 +().x-]*$"
# An absolute http(s) URL with a host name (a subset of what the server takes).
URL = r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,4})?(?:[/?#][!#-~]*)?$"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = rf"^(?:{_LABEL}\.)*[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?$"
# Date-times the server can hold in UTC: the two days at the ends of the
# calendar are left out (an offset could carry them past year 1 or 9999).
DATE_TIME_RANGE = r"^(?!0001-01-01T.*[+]|9999-12-31T.*-)"
DATE_TIME_OUT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$"
_YEAR = "(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9])"
_MONTH_DAY = "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
DATE_TIME_ITEM = f"{_YEAR}-{_MONTH_DAY}T{_TIME}"
NUMBER_ITEM = r"-?[0-9]{1,15}(?:[.][0-9]{1,15})?(?:[eE][+-]?[0-9]{1,2})?"
ETAG_LIST = r'^[ \t]*(?:\*|(?:W/)?"[!#-+\--~]*"(?:[ \t]*,[ \t]*(?:W/)?"[!#-+\--~]*")*)[ \t]*$'


def _digits_at_most(bound: str) -> str:
    """Strings of ``len(bound)`` digits whose value is at most ``bound``."""
    alternatives = [bound]
    for i, digit in enumerate(bound):
        if digit != "0":
            rest = len(bound) - i - 1
            smaller = "0" if digit == "1" else f"[0-{int(digit) - 1}]"
            alternatives.append(bound[:i] + smaller + (f"[0-9]{{{rest}}}" if rest else ""))
    return "(?:" + "|".join(alternatives) + ")"


_SHORT = f"[0-9]{{1,{len(str(INT64_MAX)) - 1}}}"
INT64_ITEM = f"(?:{_SHORT}|{_digits_at_most(str(INT64_MAX))}|-(?:{_SHORT}|{_digits_at_most(str(-INT64_MIN))}))"


# Length limits are lookaheads rather than bounded repetitions: a bounded
# character class nested in a list's repetition ([^,]{0,2048} up to 100 times)
# is too large a regex for the Rust regex crate behind some validators, which
# then ignore the pattern.  ``[\s\S]`` is any character in both dialects.


def at_most(pattern: str, length: int) -> str:
    """``pattern`` (anchored with ``^``), on strings of at most ``length`` characters."""
    assert pattern.startswith("^"), pattern
    return rf"^(?![\s\S]{{{length + 1}}})" + pattern[1:]


def comma_list(item: str, max_items: int, max_item_length: int | None = None) -> str:
    """1 to ``max_items`` items separated by commas (each at most ``max_item_length`` characters)."""
    head = "^" if max_item_length is None else rf"^(?![\s\S]*[^,]{{{max_item_length + 1}}})"
    return f"{head}{item}(?:,{item}){{0,{max_items - 1}}}$"
