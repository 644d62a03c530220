"""Who is calling: bearer JWT → verified ``Caller``.

Only :class:`TokenVerifier` makes a ``Caller``; every repository function takes
one first, so nothing can query without a verified tenant (and app) scope.

* Accepted algorithms come from configuration, never from the token; ``none``
  is always refused.  HS256 uses only the ``EDM_JWT_SECRET`` secrets (a token
  signed with any of them verifies, so a secret rotates without a 401 storm);
  RS256/ES256/EdDSA use only keys from the JWKS (file or URL) picked by
  ``kid``, so a token cannot make us verify an HMAC with a public key.
* The key set is kept fresh by ``edm.kit.jwks.KeySet``: re-read every
  ``EDM_JWKS_REFRESH_SECONDS`` and on an unknown ``kid``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from edm.kit.errors import Forbidden, Unauthorized
from edm.kit.jwks import KeySet
from edm.kit.settings import Settings

__all__ = ["Caller", "TokenVerifier", "KeySet"]

_ISSUED = object()  # only this module can vouch for a Caller
_ASYMMETRIC_KEY_TYPES = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}
_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller.  ``scopes`` is None for a human session: every ``*.read``
    and ``*.write`` scope, but no admin scope."""

    tenant_id: str
    sub: str
    app_id: str | None
    scopes: frozenset[str] | None
    _issuer: object = None

    def __post_init__(self) -> None:
        if self._issuer is not _ISSUED:
            raise TypeError("a Caller is made only by edm.kit.auth.TokenVerifier")

    def has_scope(self, scope: str) -> bool:
        if self.scopes is None:
            return scope.endswith((".read", ".write"))
        return scope in self.scopes

    def require(self, *scopes: str) -> Caller:
        missing = [s for s in scopes if not self.has_scope(s)]
        if missing:
            raise Forbidden(
                f"this token lacks the scope {' '.join(missing)}",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{" ".join(missing)}"'},
            )
        return self


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._algorithms = frozenset(settings.algorithms)
        self._secrets = settings.jwt_secrets
        self._issuer = settings.jwt_issuer
        self._audience = list(settings.jwt_audience) or None
        self._leeway = settings.jwt_leeway_seconds
        self._cache: dict[str, tuple[Caller, float, int]] = {}
        self._keys = (
            KeySet(
                url=settings.jwks_url,
                file=settings.jwks_file,
                min_refresh_seconds=settings.jwks_min_refresh_seconds,
                refresh_seconds=settings.jwks_refresh_seconds,
                max_stale_seconds=settings.jwks_max_stale_seconds,
            )
            if settings.jwks_url or settings.jwks_file
            else None
        )

    async def keep_keys_fresh(self) -> None:
        """Re-read the JWKS on a schedule, for the app's life (returns at once without one)."""
        if self._keys is not None:
            await self._keys.keep_fresh()

    async def authenticate(self, authorization: str | None) -> Caller:
        if not authorization:
            raise Unauthorized(
                "an Authorization: Bearer token is required",
                headers={"WWW-Authenticate": 'Bearer realm="edm"'},
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        return await self.verify(token.strip())

    async def verify(self, token: str) -> Caller:
        """The Caller of a valid token; a token verified before is answered from memory until it expires."""
        generation = self._keys.generation if self._keys else 0
        cached = self._cache.get(token)
        if cached is not None:
            caller, expires, seen_generation = cached
            # a reloaded key set may have retired the key that signed it
            if time.time() < expires and seen_generation == generation:
                return caller
            del self._cache[token]
        caller, expires = await self._verify(token)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()  # crude, but bounded and O(1); a miss only costs a verification
        self._cache[token] = (caller, expires, self._keys.generation if self._keys else 0)
        return caller

    async def _verify(self, token: str) -> tuple[Caller, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the token is not a well-formed JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise Unauthorized("the token's algorithm is not accepted")
        keys = await self._keys_for(alg, header.get("kid"))
        try:
            claims = self._decode(token, alg, keys)
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("the token is not valid yet") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"the token lacks the claim {exc.claim}") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("the token's issuer is not accepted") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("the token's audience is not accepted") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Unauthorized("the token's signature or claims are invalid") from None
        # exp is a number here (PyJWT checked it); honour the same leeway the check used
        return self._caller(claims), float(claims["exp"]) + self._leeway

    def _decode(self, token: str, alg: str, keys: Sequence[Any]) -> dict[str, Any]:
        """The claims, verified with whichever of ``keys`` signed the token."""
        if not keys:
            raise Unauthorized("no key can verify this token")
        for key in keys[:-1]:
            try:
                return self._decode_with(token, alg, key)
            except jwt.InvalidSignatureError:
                continue  # perhaps signed with a later one
        return self._decode_with(token, alg, keys[-1])

    def _decode_with(self, token: str, alg: str, key: Any) -> dict[str, Any]:
        return jwt.decode(
            token,
            key,
            algorithms=[alg],
            leeway=self._leeway,
            issuer=self._issuer,
            audience=self._audience,
            options={
                "require": ["exp", "sub", "tenant_id"],
                "verify_aud": self._audience is not None,
                "verify_iss": self._issuer is not None,
            },
        )

    async def _keys_for(self, alg: str, kid: Any) -> Sequence[Any]:
        if alg == "HS256":
            return self._secrets
        if self._keys is None or (kid is not None and not isinstance(kid, str)):
            raise Unauthorized("no key can verify this token")
        key = await self._keys.get(kid)
        if key is None:
            raise Unauthorized("the token's signing key (kid) is unknown")
        if key.key_type != _ASYMMETRIC_KEY_TYPES[alg] or (key.algorithm_name and key.algorithm_name != alg):
            raise Unauthorized("the token's algorithm does not match its key")
        return [key.key]

    @staticmethod
    def _caller(claims: dict[str, Any]) -> Caller:
        def text(name: str, required: bool) -> str | None:
            value = claims.get(name)
            if value is None and not required:
                return None
            # printable: no control (C0, C1), format (bidi overrides, zero-width),
            # surrogate or unassigned characters, which logs and headers cannot carry safely
            if not isinstance(value, str) or not 1 <= len(value) <= 255 or not value.isprintable():
                raise Unauthorized(f"the token's {name} claim must be a string of 1-255 printable characters")
            return value

        tenant_id = text("tenant_id", True)
        sub = text("sub", True)
        app_id = text("app_id", False)
        scope = claims.get("scope")
        if "scope" in claims and not isinstance(scope, str):
            raise Unauthorized("the token's scope claim must be a space-separated string")
        scopes = frozenset(scope.split()) if scope is not None else None
        assert tenant_id is not None and sub is not None
        return Caller(tenant_id, sub, app_id, scopes, _ISSUED)
