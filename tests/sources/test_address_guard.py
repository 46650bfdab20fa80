"""The address guard classifies the address a socket reaches, however it is spelt.

Table-driven: each IPv4 range and each IPv6 form that carries an IPv4 address (mapped,
compatible, 6to4, NAT64) gets the kind of the IPv4 address it reaches; the list URL's
kind is classified alike, so a loopback list URL spelt another way opens no path to a
link-local one. One real redirect through yt-dlp from a `0.0.0.0` list URL to the
mapped cloud metadata address is refused before any connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from affectflow.sources.address_guard import address_kind, classify, embedded_ipv4

KINDS = [
    # IPv4
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("0.0.0.0", "loopback"),
    ("0.1.2.3", "non-global"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "shared"),
    ("100.100.100.200", "shared"),
    ("100.127.255.254", "shared"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("198.18.0.1", "non-global"),
    ("198.19.255.1", "non-global"),
    ("192.0.2.1", "non-global"),
    ("198.51.100.7", "non-global"),
    ("203.0.113.9", "non-global"),
    ("240.0.0.1", "non-global"),
    ("255.255.255.255", "non-global"),
    ("192.0.0.8", "non-global"),
    ("8.8.8.8", None),
    ("100.128.0.1", None),
    ("93.184.216.34", None),
    # IPv6 as it is
    ("::1", "loopback"),
    ("::", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fd00::1", "private"),
    ("fec0::1", "private"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "non-global"),
    ("2606:4700:4700::1111", None),
    # IPv4-mapped
    ("::ffff:127.0.0.1", "loopback"),
    ("[::ffff:127.0.0.1]", "loopback"),
    ("::ffff:7f00:1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:100.100.100.200", "shared"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:0.0.0.0", "loopback"),
    ("::ffff:8.8.8.8", None),
    # IPv4-compatible
    ("::127.0.0.1", "loopback"),
    ("::169.254.169.254", "link-local"),
    ("::8.8.8.8", None),
    # 6to4
    ("2002:7f00:1::", "loopback"),
    ("2002:a9fe:a9fe::1", "link-local"),
    ("2002:6464:64c8::", "shared"),
    ("2002:0808:0808::1", None),
    # NAT64 (well-known prefix, and the local-use one, never global)
    ("64:ff9b::127.0.0.1", "loopback"),
    ("64:ff9b::169.254.169.254", "link-local"),
    ("64:ff9b::100.100.100.200", "shared"),
    ("64:ff9b::8.8.8.8", None),
    ("64:ff9b:1::a9fe:a9fe", "link-local"),
    ("64:ff9b:1::808:808", "non-global"),
]


@pytest.mark.parametrize(("address", "kind"), KINDS, ids=[a for a, _ in KINDS])
def test_each_form_gets_the_kind_of_the_address_it_reaches(address: str, kind: str) -> None:
    assert classify(address) == kind
    assert address_kind(address) == kind


def test_embedded_ipv4_unwraps_each_form_and_nothing_else() -> None:
    assert str(embedded_ipv4(__import__("ipaddress").ip_address("2002:a9fe:a9fe::"))) == (
        "169.254.169.254"
    )
    for plain in ("::1", "::", "fe80::1", "2606:4700:4700::1111", "127.0.0.1"):
        assert embedded_ipv4(__import__("ipaddress").ip_address(plain)) is None


def test_a_host_name_takes_the_kind_of_what_it_resolves_to() -> None:
    assert address_kind("localhost") == "loopback"
    assert address_kind("no-such-host.invalid") is None
    assert address_kind(None) is None


# (list URL host, connected address, allowed): the same kind only, spelt any way.
SAME_KIND = [
    ("127.0.0.1", "::ffff:127.0.0.1", True),
    ("[::ffff:127.0.0.1]", "127.0.0.1", True),
    ("0.0.0.0", "127.0.0.1", True),
    ("[::ffff:127.0.0.1]", "::ffff:169.254.169.254", False),
    ("0.0.0.0", "::ffff:169.254.169.254", False),
    ("10.0.0.5", "100.100.100.200", False),
    ("10.0.0.5", "::ffff:10.0.0.6", True),
    ("[2002:a00:5::]", "10.0.0.6", True),
    ("8.8.8.8", "100.100.100.200", False),
    ("8.8.8.8", "64:ff9b::169.254.169.254", False),
    ("8.8.8.8", "2002:7f00:1::", False),
    ("8.8.8.8", "1.1.1.1", True),
]


@pytest.mark.parametrize(("origin", "target", "allowed"), SAME_KIND)
def test_the_list_url_allows_only_its_own_kind(origin: str, target: str, allowed: bool) -> None:
    target_kind = classify(target)
    assert (target_kind is None or target_kind == address_kind(origin.strip("[]"))) is allowed


@pytest.mark.parametrize("origin_host", ["0.0.0.0", "127.0.0.1"])
def test_a_redirect_to_the_mapped_metadata_address_is_refused(
    http_server: Any, tmp_path: Path, origin_host: str
) -> None:
    """Through yt-dlp: a loopback list URL, spelt `0.0.0.0` or `127.0.0.1`, redirected to
    `[::ffff:169.254.169.254]` is refused as link-local, before any connection to it."""
    from affectflow.sources.bounded_child import FetchLimits
    from affectflow.sources.bounded_fetch import fetch_bounded
    from affectflow.sources.fetch_errors import FetchError
    from affectflow.sources.ytdlp_fetch import ytdlp_options

    url = http_server.route(
        "r/mapped.mp4", status=302, headers=(("Location", "http://[::ffff:169.254.169.254]/x"),)
    )
    url = url.replace("127.0.0.1", origin_host)
    options = ytdlp_options(str(tmp_path / "m.%(ext)s"), socket_timeout_s=5)
    with pytest.raises(FetchError) as error:
        fetch_bounded(url, options, limits=FetchLimits(timeout_s=20))
    assert error.value.error_class == "PrivateAddressRefused", error.value
    assert "::ffff:169.254.169.254, a link-local address" in str(error.value)
    assert http_server.requests("/r/mapped.mp4") >= 1
