"""The outbound client against real local servers: a "metadata" server on loopback that
no spelling of a refused address may reach, an allowed host that is reached, redirects not
followed, and the address checks by range."""

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from sarafan.core import outbound
from tests.receivers import Receiver, receiver


@pytest.fixture
def metadata() -> Iterator[Receiver]:
    """Stands for the cloud metadata service or an internal admin: must never be reached."""
    with receiver() as server:
        yield server


@pytest.fixture
def metadata6() -> Iterator[Receiver]:
    with receiver(socket.AF_INET6) as server:
        yield server


LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "0177.0.0.1",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "localhost",
    "LOCALHOST.",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_no_spelling_of_a_loopback_address_is_called(metadata, host):
    url = f"http://{host}:{metadata.port}/latest/meta-data/"
    with pytest.raises(outbound.OutboundError):
        outbound.send("GET", url, timeout=10)
    with pytest.raises(outbound.AddressNotAllowed):
        outbound.check_url(url)
    assert metadata.requests == []


def test_ipv6_loopback_is_not_called(metadata6):
    url = f"http://[::1]:{metadata6.port}/"
    with pytest.raises(outbound.AddressNotAllowed):
        outbound.send("GET", url, timeout=10)
    with pytest.raises(outbound.AddressNotAllowed):
        outbound.check_url(url)
    assert metadata6.requests == []


def test_a_name_is_checked_when_connecting_not_only_when_saved(metadata, settings):
    # Allowed when a URL was saved, refused since (the same as a name whose DNS answer
    # changed to a local address after it was checked): the connection is what counts.
    url = f"http://localhost:{metadata.port}/"
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["localhost"]
    outbound.check_url(url)
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = []
    with pytest.raises(outbound.AddressNotAllowed):
        outbound.send("GET", url, timeout=10)
    assert metadata.requests == []


def test_an_allowed_host_name_is_called_with_its_name(metadata, settings):
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["localhost"]
    answer = outbound.send("GET", f"http://localhost:{metadata.port}/v1", timeout=10)
    assert (answer.status_code, answer.body) == (200, b'{"ok": true}')
    [(method, path, headers)] = metadata.requests
    assert (method, path) == ("GET", "/v1")
    assert headers["host"] == f"localhost:{metadata.port}"
    assert headers["user-agent"] == "Sarafan"
    # Allowing one name allows no other spelling of the same address.
    with pytest.raises(outbound.AddressNotAllowed):
        outbound.send("GET", f"http://127.0.0.1:{metadata.port}/", timeout=10)
    assert len(metadata.requests) == 1


def test_a_redirect_is_answered_not_followed(metadata, settings):
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["127.0.0.1"]
    with receiver() as target:
        metadata.redirect_to = f"http://127.0.0.1:{target.port}/secret"
        answer = outbound.send("GET", f"http://127.0.0.1:{metadata.port}/", timeout=10)
        assert answer.status_code == 302
        assert target.requests == []


def test_only_http_and_https(metadata):
    for url in ("file:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1:70/"):
        with pytest.raises(outbound.AddressNotAllowed):
            outbound.send("GET", url, timeout=10)
        with pytest.raises(outbound.AddressNotAllowed):
            outbound.check_url(url)


def test_the_timeout_is_capped_by_the_installation(metadata, settings):
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["127.0.0.1"]
    settings.SARAFAN_OUTBOUND_MAX_TIMEOUT_SECONDS = 0.5
    metadata.hang.clear()
    with pytest.raises(outbound.TimedOut):
        # Asked for an hour; given up at the cap (the server never answers).
        outbound.send("GET", f"http://127.0.0.1:{metadata.port}/", timeout=3600)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",  # noqa: S104 - the unspecified address, refused
        "0.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.0.8",
        "198.18.0.1",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::10.0.0.1",
        "::127.0.0.1",
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::7f00:1",
        "64:ff9b:1::1",
        "2001:db8::1",
        "2001::1",  # Teredo
    ],
)
def test_refused_ranges(address):
    assert outbound.is_refused(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "77.88.8.8", "2606:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert not outbound.is_refused(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("3232235777", "192.168.1.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("[::ffff:a9fe:a9fe]", "::ffff:169.254.169.254"),
        ("example.com", None),
        ("123.example", None),
    ],
)
def test_ip_spellings_are_read_as_addresses(spelling, address):
    found = outbound.literal_address(spelling)
    assert (str(found) if found is not None else None) == address
