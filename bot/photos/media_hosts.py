"""Where the bot may download media from: a host allowlist (`HostList`) and a public-address check after DNS."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Twilio's media hosts. MediaUrl is on api.twilio.com, which answers with a redirect: to mms.twiliocdn.com for media
# behind HTTP basic auth, to s3-external-1.amazonaws.com for older media without (help.twilio.com article 223183748,
# "Protect Media Access with HTTP Basic Authentication for Programmable Messaging"). Only api.twilio.com needs the
# account credentials; the redirect target carries its own short-lived signature.
TWILIO_MEDIA_HOSTS = ("api.twilio.com", "*.twiliocdn.com", "s3-external-1.amazonaws.com")
TWILIO_CREDENTIAL_HOSTS = ("api.twilio.com",)

_LABELS = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")  # an ASCII (punycode) host name
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def normalise_host(host: str) -> str:
    """Lower case, without the trailing dot of a fully qualified name, an IP literal in its canonical form."""
    host = host.strip().rstrip(".").lower().removeprefix("[").removesuffix("]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


class HostList:
    """Exact hosts and `*.suffix` wildcards; `*.twiliocdn.com` matches any name below twiliocdn.com, not itself."""

    def __init__(self, patterns: tuple[str, ...] | list[str]):
        """Args:
            patterns: host names, IP literals or `*.suffix` (no scheme, port or path).

        Raises:
            ValueError: a pattern that is none of these.
        """
        self.patterns = tuple(patterns)
        self._exact: set[str] = set()
        self._suffixes: list[str] = []
        for pattern in self.patterns:
            host = normalise_host(pattern)
            wildcard = host.startswith("*.")
            name = host[2:] if wildcard else host
            if not (_LABELS.fullmatch(name) or (not wildcard and _is_ip(name))):
                raise ValueError(f"media host {pattern!r} is neither a host name, an IP address nor '*.suffix'")
            if wildcard:
                self._suffixes.append("." + name)
            else:
                self._exact.add(name)

    def matches(self, host: str) -> bool:
        host = normalise_host(host)
        return host in self._exact or any(host.endswith(suffix) for suffix in self._suffixes)

    def __repr__(self) -> str:
        return f"HostList({self.patterns!r})"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_public(address: IPAddress) -> bool:
    """Whether `address` is a global unicast address: not private, loopback, link-local, multicast, reserved,
    unspecified or shared (CGNAT), nor an IPv6 address that embeds such an IPv4 one (mapped, 6to4, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    special = (
        address.is_private,
        address.is_loopback,
        address.is_link_local,
        address.is_multicast,
        address.is_reserved,
        address.is_unspecified,
    )
    return address.is_global and not any(special)


def is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order (an IP literal is its own answer).

    Raises:
        socket.gaierror: the name does not resolve.
    """
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # "fe80::1%eth0": the zone index is not part of the address
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
