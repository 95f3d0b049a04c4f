"""What a service needs to know about the request it serves: who acts, and which request."""

from __future__ import annotations

from dataclasses import dataclass

PLATFORM_SLUG = "platform"  # the operators' organization


@dataclass(frozen=True)
class Actor:
    """An authenticated principal, as its access token and the database describe it now."""

    id: str
    org_id: str
    org_slug: str
    roles: tuple[str, ...]
    org_active: bool = True
    kind: str = "service"
    key_id: str | None = None
    token_id: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.org_slug == PLATFORM_SLUG and "operator" in self.roles


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    actor: Actor | None = None
    client_ip: str | None = None

    @property
    def principal(self) -> Actor:
        """The authenticated actor; routes behind authentication always have one."""
        if self.actor is None:  # pragma: no cover - the middleware guarantees it
            raise RuntimeError("no authenticated actor in this context")
        return self.actor
