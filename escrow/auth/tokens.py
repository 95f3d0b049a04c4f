"""Access tokens: EdDSA JWTs with pinned algorithm and required claims."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from escrow.clock import Clock
from escrow.errors import AuthenticationError

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "jti")
CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True)
class TokenClaims:
    principal_id: str
    org_id: str
    key_id: str | None
    jti: str
    expires_at: datetime


class TokenAuthority:
    """Issues and verifies access tokens with the service's token-signing key."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        kid: str,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        clock: Clock,
    ) -> None:
        self._private_key = private_key
        self._public_key = private_key.public_key()
        self.kid = kid
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(OKPAlgorithm.to_jwk(self._public_key))
        jwk.update({"kid": self.kid, "alg": ALGORITHM, "use": "sig"})
        return {"keys": [jwk]}

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
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def verify(self, token: str) -> TokenClaims:
        """Fails closed: only EdDSA with our key, our issuer and audience, within its lifetime."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM or header.get("kid") != self.kid:
                raise AuthenticationError("token is not signed by this service", reason="key")
            claims = jwt.decode(
                token,
                self._public_key,
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
        return self._check_lifetime(claims)

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
