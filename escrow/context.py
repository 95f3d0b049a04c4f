"""What a service needs to know about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass

from escrow.policy.resources import Actor


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
