"""Which webhook URLs may be called: ``https`` on public addresses only.

A URL is checked when it is subscribed (a 422) and again at every delivery,
where the host name is resolved, every address it resolves to must be public,
and the connection goes to the address that was checked (``Target.address``),
so a name that resolves elsewhere a moment later (DNS rebinding) gains nothing.
Refused: loopback, private (RFC 1918, unique-local), link-local (the cloud
metadata address 169.254.169.254 among them), shared/CGNAT (100.64.0.0/10),
multicast, unspecified, reserved and documentation ranges, and their IPv6
forms (IPv4-mapped, NAT64, 6to4 addresses are judged by the IPv4 address they
carry).  ``EDM_WEBHOOKS_ALLOW_PRIVATE=true`` allows ``http`` and every address,
for development and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["UnsafeURL", "Target", "check_url", "resolve", "refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
MAX_URL_LENGTH = 2048


class UnsafeURL(ValueError):
    """A URL a webhook may not call; the message says why."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to call it (``host``)."""

    url: str
    scheme: str
    host: str
    port: int
    address: str  # the checked IP address to connect to


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return refusal(embedded)
    for reason, test in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local (cloud metadata among them)", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared address space (CGNAT)", isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not globally routable", not ip.is_global),
    ):
        if test:
            return reason
    return None


def check_url(url: str, *, allow_private: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL a webhook may name, before any resolving."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x20 or c == "\x7f" for c in url):
        raise UnsafeURL("must not contain control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"is not a URL: {exc}") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeURL("must be an https URL" if not allow_private else "must be an http or https URL")
    if not parts.hostname:
        raise UnsafeURL("must name a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("must not carry a user name or password")
    if parts.fragment:
        raise UnsafeURL("must not carry a fragment")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    if not allow_private:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            if host.rstrip(".").lower() in ("localhost",) or host.rstrip(".").lower().endswith(".localhost"):
                raise UnsafeURL("must be on a public address, not loopback") from None
        else:
            reason = refusal(literal)
            if reason:
                raise UnsafeURL(f"must be on a public address, not {reason} ({literal})")
    return parts.scheme, host, port


async def resolve(url: str, *, allow_private: bool) -> Target:
    """``url`` checked, resolved, and every address it resolves to checked; the first is where to connect."""
    scheme, host, port = check_url(url, allow_private=allow_private)
    with contextlib.suppress(ValueError):  # an address already (check_url has checked it): nothing to look up
        return Target(url=url, scheme=scheme, host=host, port=port, address=str(ipaddress.ip_address(host)))
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise UnsafeURL(f"its host {host!r} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    if not addresses:
        raise UnsafeURL(f"its host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refusal(ipaddress.ip_address(address))
            if reason:
                raise UnsafeURL(f"must be on a public address: {host} resolves to {address}, {reason}")
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
