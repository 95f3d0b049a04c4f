"""Access tokens: EdDSA JWTs with pinned algorithm and required claims.

Tokens are signed by the keyring's active token key and name it in the ``kid`` header;
verification accepts every published token key (staged, active, verify-only) so that a
rotation invalidates nothing before the old key is retired, and refuses a retired one.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import jwt
from jwt.algorithms import OKPAlgorithm

from crypto import SigningKeyInfo, SigningKeyKind, TokenSigningKey
from escrow.clock import Clock
from escrow.errors import AuthenticationError

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "jti")
CLOCK_SKEW_SECONDS = 30
MAX_VERIFIED = 10_000  # tokens whose signature a process remembers having checked


@dataclass(frozen=True)
class TokenClaims:
    principal_id: str
    org_id: str
    key_id: str | None
    jti: str
    expires_at: datetime


class TokenKeys(Protocol):
    """Where the token keys live (the Keyring): the one that signs, and those that verify."""

    @property
    def token_signing_key(self) -> TokenSigningKey: ...

    def verification_keys(self, kind: SigningKeyKind) -> dict[str, SigningKeyInfo]: ...


class TokenAuthority:
    """Issues access tokens with the active token key; verifies them with any published one."""

    def __init__(
        self,
        keys: TokenKeys,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        clock: Clock,
    ) -> None:
        self._keys = keys
        # Tokens whose signature, issuer and audience checked out: (kid, claims), newest last.
        # A hit is checked again for its key still being published and for its lifetime.
        self._verified: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self._verified_lock = threading.Lock()
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    @property
    def kid(self) -> str:
        """The key id (JWK thumbprint) of the key that signs new tokens."""
        return self._keys.token_signing_key.kid

    def jwks(self) -> dict[str, Any]:
        """Every key that verifies tokens, the signing one first: after a promotion the old
        key stays here until it is retired, so tokens it signed keep verifying."""
        signing = self.kid
        published = sorted(
            self._keys.verification_keys("token").values(), key=lambda k: k.key_id != signing
        )
        keys = []
        for info in published:
            jwk = json.loads(OKPAlgorithm.to_jwk(info.public_key))
            jwk.update({"kid": info.key_id, "alg": ALGORITHM, "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    def issue(
        self, *, principal_id: str, org_id: str, org_slug: str, roles: list[str], key_id: str
    ) -> str:
        now = int(self._clock.now().timestamp())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": principal_id,
            "org": org_slug,
            "org_id": org_id,
            "roles": roles,
            "key": key_id,
            "iat": now,
            "exp": now + self.ttl_seconds,
            "jti": secrets.token_hex(16),
        }
        key = self._keys.token_signing_key
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str) -> TokenClaims:
        """Fails closed: only EdDSA with a published (not retired) key of ours, our issuer and
        audience, within its lifetime."""
        with self._verified_lock:
            known = self._verified.get(token)
        if known is not None and known[0] in self._keys.verification_keys("token"):
            return self._check_lifetime(known[1])
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            published = self._keys.verification_keys("token")
            if header.get("alg") != ALGORITHM or not isinstance(kid, str) or kid not in published:
                raise AuthenticationError("token is not signed by this service", reason="key")
            claims = jwt.decode(
                token,
                published[kid].public_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # Lifetime is checked below against the injected clock, not the wall clock.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise AuthenticationError("token audience is wrong", reason="audience") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("token issuer is wrong", reason="issuer") from None
        except jwt.PyJWTError:
            raise AuthenticationError(
                "token is malformed or its signature is invalid", reason="signature"
            ) from None
        checked = self._check_lifetime(claims)
        with self._verified_lock:
            self._verified[token] = (kid, claims)
            if len(self._verified) > MAX_VERIFIED:
                self._verified.popitem(last=False)
        return checked

    def _check_lifetime(self, claims: dict[str, Any]) -> TokenClaims:
        """Fails closed: within [nbf, exp), and no longer-lived than this service issues."""
        now = self._clock.now().timestamp()
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in (exp, iat, nbf)):
            raise AuthenticationError("token times are malformed", reason="claims")
        if exp <= now - CLOCK_SKEW_SECONDS:
            raise AuthenticationError("token has expired", reason="expired")
        if iat > now + CLOCK_SKEW_SECONDS:
            raise AuthenticationError("token was issued in the future", reason="claims")
        if nbf > now + CLOCK_SKEW_SECONDS:
            raise AuthenticationError("token is not valid yet (nbf)", reason="not_yet_valid")
        # A key that signs what this service never issues (a 10-year token) must not work:
        # no token lives longer than the configured TTL.
        if exp - min(iat, nbf) > self.ttl_seconds + CLOCK_SKEW_SECONDS:
            raise AuthenticationError(
                "token lifetime exceeds what this service issues", reason="lifetime"
            )
        org_id, key_id = claims.get("org_id"), claims.get("key")
        if not isinstance(org_id, str) or not isinstance(claims["sub"], str):
            raise AuthenticationError("token subject is malformed", reason="claims")
        return TokenClaims(
            principal_id=claims["sub"],
            org_id=org_id,
            key_id=key_id if isinstance(key_id, str) else None,
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(exp, tz=self._clock.now().tzinfo),
        )
