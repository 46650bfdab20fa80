"""Which addresses a fetch may connect to: the guard against reaching internal hosts.

`address_kind` classifies the address a socket really connects to. An IPv6 address that
carries an IPv4 one is judged by the IPv4 address it reaches: IPv4-mapped
(`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), 6to4 (`2002::/16`) and NAT64
(`64:ff9b::/96`, and the local-use `64:ff9b:1::/48`, itself never global). Kinds:

- `loopback`: 127.0.0.0/8, ::1, and the unspecified 0.0.0.0 and :: (a connection to
  them reaches this host);
- `link-local`: 169.254.0.0/16 (cloud metadata), fe80::/10;
- `shared`: 100.64.0.0/10 (carrier-grade NAT; Alibaba's metadata is 100.100.100.200);
- `multicast`: 224.0.0.0/4, ff00::/8;
- `private`: 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10;
- `non-global`: every other address that is not globally reachable (0.0.0.0/8,
  benchmarking 198.18.0.0/15, documentation, reserved 240.0.0.0/4, broadcast, ...).

`guard_connections` refuses, in a fetch's child process, every connection to an address
of a kind unless the list URL's own host is of that same kind (both classified alike,
so `[::ffff:127.0.0.1]` and `127.0.0.1` are one kind, and neither opens a path to
`[::ffff:169.254.169.254]`, which is link-local).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from urllib.parse import urlsplit

from affectflow.sources.fetch_errors import RefusedConnection

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")
)
# Not globally reachable whatever this Python's `is_global` says (IANA special-purpose).
_NON_GLOBAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
    )
)


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches (mapped, compatible, 6to4, NAT64), or None."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64 or address in _NAT64_LOCAL:
        return low32
    if address in _COMPATIBLE and int(address) > 1:  # not :: nor ::1
        return low32
    return None


def _kind_of(address: Address) -> str | None:
    """The kind of one address, as it is (no unwrapping), or None for a global one."""
    if address.is_loopback or address.is_unspecified:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address in _SHARED:
        return "shared"
    if address.is_multicast:
        return "multicast"
    if any(address in network for network in _PRIVATE if network.version == address.version):
        return "private"
    non_global = any(address in n for n in _NON_GLOBAL if n.version == address.version)
    if non_global or not address.is_global or address.is_reserved or address in _NAT64_LOCAL:
        return "non-global"
    return None


def classify(address: str | Address) -> str | None:
    """The kind of an address (see the module doc) after unwrapping an embedded IPv4
    address; None for a global address."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.strip("[]").split("%")[0])
    inner = embedded_ipv4(address)
    if inner is not None:
        return _kind_of(inner) or ("non-global" if address in _NAT64_LOCAL else None)
    return _kind_of(address)


def address_kind(host: str | None) -> str | None:
    """The kind of a host: of its address, or of the first non-global one it resolves to
    (loopback first, then link-local, ...); None for a global host or a failed lookup."""
    if not host:
        return None
    try:
        return classify(host)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return None  # yt-dlp reports the lookup failure itself
    kinds = {classify(str(info[4][0])) for info in infos} - {None}
    order = ("loopback", "link-local", "shared", "multicast", "private", "non-global")
    return next((kind for kind in order if kind in kinds), None)


def guard_connections(origin: str, allow_private: bool) -> None:
    """Refuse, for the rest of this process, connections to non-global addresses unless
    `origin`'s host is of the same kind.

    An audit hook on `socket.connect` sees the address really connected to, after DNS
    and for every request (pages, media, redirects, `og:video` links), before any byte is
    sent. Installed only in the fetch's own child process, which it outlives with.
    """
    if allow_private:
        return
    origin_kind = address_kind(urlsplit(origin).hostname)

    def hook(event: str, args: tuple) -> None:
        if event != "socket.connect" or not isinstance(args[1], tuple):
            return
        host = str(args[1][0])
        kind = address_kind(host)
        if kind is not None and kind != origin_kind:
            raise RefusedConnection(
                f"refused to connect to {host}, a {kind} address, while fetching {origin} "
                "(--allow-private-addresses allows it)",
                "PrivateAddressRefused",
            )

    sys.addaudithook(hook)
