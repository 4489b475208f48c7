"""alerts.stores.sqlite_query: the 16-byte address form and CIDR ranges behind the ip filter."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.stores.sqlite_query import ip_blob, network_range


def test_ipv4_is_stored_ipv4_mapped() -> None:
    assert ip_blob("192.0.2.1") == bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 1])
    assert ip_blob("::ffff:192.0.2.1") == ip_blob("192.0.2.1")
    assert ip_blob("2001:db8::1") == ipaddress.IPv6Address("2001:db8::1").packed


@pytest.mark.parametrize("bad", ["10.0.0.300", "10.0.0", "2001:db8:::1", "host", ""])
def test_bad_addresses_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        ip_blob(bad)


def test_network_ranges() -> None:
    low, high = network_range(ipaddress.ip_network("10.1.0.0/16"))
    assert (low, high) == (ip_blob("10.1.0.0"), ip_blob("10.1.255.255"))
    low, high = network_range(ipaddress.ip_network("2001:db8::/32"))
    assert (low, high) == (ip_blob("2001:db8::"), ip_blob("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"))


@given(
    address=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    prefix=st.integers(0, 128),
    other=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
)
def test_an_address_is_in_the_blob_range_exactly_when_it_is_in_the_network(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    prefix: int,
    other: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    network = ipaddress.ip_network(f"{address}/{min(prefix, address.max_prefixlen)}", strict=False)
    low, high = network_range(network)
    for candidate in (address, other):
        in_range = low <= ip_blob(str(candidate)) <= high
        if candidate.version == network.version:
            assert in_range == (candidate in network)
        elif candidate.version == 6 and in_range:
            # Only IPv4-mapped IPv6 addresses fall in an IPv4 range: they are the same hosts.
            assert isinstance(candidate, ipaddress.IPv6Address)
            assert candidate.ipv4_mapped in network
