"""Where webhooks may go: URL rules and the address check that keeps them off internal networks.

A webhook makes this service send requests to a URL a tenant chose, which is a classic
server-side request forgery (SSRF) lever. So an endpoint URL is https (http only when
``ESCROW_WEBHOOK_ALLOW_HTTP``), carries no credentials, and its host must resolve only to
globally routable addresses (not loopback, private, link-local, CGNAT, multicast or
reserved ranges, nor an IPv6 form that embeds such an IPv4 address) unless
``ESCROW_WEBHOOK_ALLOW_PRIVATE_NETWORKS`` says otherwise. The check runs when the URL is
registered and again before every attempt, and the attempt connects to the very address
that was checked (the URL's host stays in the Host header and TLS SNI), so DNS that changes
between the check and the connection (rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from escrow.errors import ValidationError
from escrow.settings import WebhookSettings

MAX_URL_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")
# IPv6 forms that carry an IPv4 address in their last 32 bits and route (or translate) to it:
# IPv4-compatible (deprecated, RFC 4291), IPv4-mapped, SIIT IPv4-translated (RFC 2765) and the
# NAT64 well-known prefix (RFC 6052). Python calls several of these global whatever they embed.
_EMBEDS_LAST_32_BITS = tuple(
    ipaddress.ip_network(prefix)
    for prefix in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
# NAT64 local-use (RFC 8215): the operator picks where the IPv4 address sits, and the prefix is
# never globally routed, so no address in it is reachable from the internet.
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
_DEFAULT_PORTS = {"http": 80, "https": 443}

log = logging.getLogger("escrow.webhooks")


class RefusedDestinationError(Exception):
    """The endpoint's host does not resolve, or resolves to an address webhooks may not reach."""


@dataclass(frozen=True)
class Destination:
    """An attempt's target, pinned to the address that passed the check."""

    url: str  # the endpoint URL with its host replaced by the checked address
    host_header: str
    sni_hostname: str | None  # https: the name the certificate must match


def check_url(url: str, policy: WebhookSettings) -> str:
    """The URL as stored, or ValidationError (field ``url``) saying what is wrong with it."""
    parts = _parse(url, policy)
    host = parts.hostname or ""
    try:
        _checked_addresses(host, parts.port or _DEFAULT_PORTS[parts.scheme], policy)
    except RefusedDestinationError as exc:
        raise ValidationError(f"url: {exc}", field="url") from None
    return urlunsplit(parts)


def resolve(url: str, policy: WebhookSettings) -> Destination:
    """Fails closed: every address the host resolves to must be allowed, and the first is used."""
    try:
        parts = _parse(url, policy)
    except ValidationError as exc:  # settings changed since it was registered
        raise RefusedDestinationError(exc.detail) from None
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    address = _checked_addresses(host, port, policy)[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = _bracketed(host) if parts.port is None else f"{_bracketed(host)}:{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    is_name = _ip(host) is None
    return Destination(pinned, host_header, host if parts.scheme == "https" and is_name else None)


def address_allowed(address: IPAddress, *, allow_private: bool) -> bool:
    """Globally routable addresses only, unless private networks are allowed by setting."""
    if address.is_multicast or address.is_unspecified:
        return False
    if allow_private:
        return True
    if address in _NAT64_LOCAL_USE:
        return False
    return all(candidate.is_global for candidate in _with_embedded(address))


def _parse(url: str, policy: WebhookSettings) -> SplitResult:
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or not c.isprintable() for c in url):
        raise ValidationError(
            f"url must be at most {MAX_URL_LENGTH} printable characters without spaces",
            field="url",
        )
    parts = urlsplit(url)
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes:
        allowed = " or ".join(schemes)
        raise ValidationError(f"url must be an {allowed} URL", field="url")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("url must not carry credentials (user:password@)", field="url")
    if parts.fragment:
        raise ValidationError("url must not have a #fragment", field="url")
    try:
        port = parts.port  # urlsplit validates the port only when it is read
    except ValueError:
        port = 0
    if port == 0:  # 0 is no port: a connection to it goes wherever the OS decides
        raise ValidationError("url has an invalid port", field="url")
    host = parts.hostname or ""
    if _ip(host) is None and not _HOSTNAME.match(host):
        raise ValidationError("url must name a host (a DNS name or an IP address)", field="url")
    return parts


def _checked_addresses(host: str, port: int, policy: WebhookSettings) -> list[IPAddress]:
    literal = _ip(host)
    addresses = [literal] if literal is not None else _lookup(host, port)
    refused = [
        a for a in addresses if not address_allowed(a, allow_private=policy.allow_private_networks)
    ]
    if refused:
        # The address itself stays in the server log: echoing it would map internal DNS
        # for whoever registers endpoints.
        log.warning("webhook destination %s refused: resolves to %s", host, refused[0])
        raise RefusedDestinationError(
            f"{host} resolves to a loopback, private, link-local or reserved address that"
            " webhooks may not reach"
        )
    return addresses


def _lookup(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise RefusedDestinationError(f"{host} does not resolve") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RefusedDestinationError(f"{host} does not resolve")
    return addresses


def _with_embedded(address: IPAddress) -> list[IPAddress]:
    """The address plus every IPv4 address an IPv6 transition form routes or translates to."""
    if not isinstance(address, ipaddress.IPv6Address):
        return [address]
    found: list[IPAddress] = [address]
    if any(address in prefix for prefix in _EMBEDS_LAST_32_BITS):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:  # 2002::/16
        found.append(address.sixtofour)
    if address.teredo is not None:  # 2001::/32: the relay server and the client's NAT
        found.extend(address.teredo)
    return found


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
