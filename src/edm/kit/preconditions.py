"""``If-Match`` / ``If-None-Match`` against integer record versions (ETag ``"<n>"``).

RFC 9110: ``If-Match`` uses the strong comparison, so a weak tag never
matches; ``If-None-Match`` uses the weak one.  A header that is not a list of
entity tags is a 400 naming it, rather than being silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edm.kit.errors import BadRequest, FieldError

__all__ = ["ETagCondition", "parse_condition", "etag"]

_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e]*)"\s*')


def etag(version: int) -> str:
    return f'"{version}"'


@dataclass(frozen=True, slots=True)
class ETagCondition:
    any: bool  # the header was "*"
    strong: frozenset[int]  # versions named by strong tags
    weak: frozenset[int]  # versions named by weak tags

    def matches_strong(self, version: int) -> bool:
        return self.any or version in self.strong

    def matches_weak(self, version: int) -> bool:
        return self.any or version in self.strong or version in self.weak

    @property
    def single_strong(self) -> int | None:
        """The one version a strong match requires, when there is exactly one."""
        return next(iter(self.strong)) if not self.any and len(self.strong) == 1 else None


def parse_condition(header: str | None, name: str) -> ETagCondition | None:
    if header is None:
        return None
    if header.strip() == "*":
        return ETagCondition(True, frozenset(), frozenset())
    strong: set[int] = set()
    weak: set[int] = set()
    for part in header.split(","):
        match = _TAG.fullmatch(part)
        if not match:
            raise BadRequest(
                f'{name} must be "*" or a list of entity tags like "3"',
                errors=[FieldError(name, 'must be "*" or a list of entity tags like "3"')],
            )
        value = match.group(2)
        # Versions are spelled without leading zeros: strong comparison is
        # character by character, so "01" is another tag (it matches nothing).
        if value.isdigit() and len(value) < 19 and value == str(int(value)):
            (weak if match.group(1) else strong).add(int(value))
    return ETagCondition(False, frozenset(strong), frozenset(weak))
