"""Outbound HTTP: the one client for every call Sarafan makes to an address a user gave it
(external issuers now; webhooks, postbacks and callbacks the same way).

Any secret key can set such an address, so the call must not become a way into the
installation's own network. The host is resolved when the connection is made, every
address it resolves to is checked, and the connection goes to a checked address (TLS and
the Host header keep the name): a name that resolved to a public address when it was saved
and to 127.0.0.1 now (DNS rebinding) is refused all the same. Refused: loopback, private,
link-local (the cloud metadata address 169.254.169.254), shared (CGNAT), multicast,
unspecified, reserved and broadcast ranges, and IPv6 addresses embedding a refused IPv4
one. Host names in SARAFAN_OUTBOUND_ALLOW_HOSTS may resolve anywhere (a provider on the
same network, the tests' local servers).

Redirects are never followed, proxies from the environment are not used, timeouts are
capped by SARAFAN_OUTBOUND_MAX_TIMEOUT_SECONDS, and errors carry a fixed reason only: what
a target answered or why a socket failed is never handed back to the one who set the URL.
"""

import ipaddress
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

type Address = ipaddress.IPv4Address | ipaddress.IPv6Address

USER_AGENT = "Sarafan"
# An IPv4 address in any spelling inet_aton reads: 127.1, 2130706433, 0x7f.1, 0177.0.0.1.
_IPV4_SPELLING = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAMES = ("localhost", "localhost.", "localhost.localdomain")


class OutboundError(Exception):
    """A call that got no usable answer; the message is a fixed reason, safe to show."""

    reason = "cannot connect"

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or self.reason)


class AddressNotAllowed(OutboundError):
    reason = "address not allowed"


class TimedOut(OutboundError):
    reason = "timed out"


class AnswerTooLarge(OutboundError):
    reason = "answer too large"


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: bytes


# -- addresses -----------------------------------------------------------------------------


def literal_address(host: str) -> Address | None:
    """The address a host that is an IP literal stands for, in any spelling; else None."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _IPV4_SPELLING.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    packed = int(address)
    if packed >> 32 == 0:  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some)
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if address in _NAT64:
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def is_refused(address: Address) -> bool:
    """Whether calls to this address stay refused unless its host name is allowed."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return True
        embedded = _embedded_ipv4(address)
        if embedded is not None and is_refused(embedded):
            return True
        if address.is_site_local:
            return True
    return bool(
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global  # also 100.64.0.0/10, documentation and benchmark ranges
    )


def _normal_host(host: str) -> str:
    address = literal_address(host)
    return str(address) if address is not None else host.lower().rstrip(".")


def is_allowed_host(host: str) -> bool:
    allowed = {_normal_host(name) for name in settings.SARAFAN_OUTBOUND_ALLOW_HOSTS}
    return _normal_host(host) in allowed


def check_url(url: str) -> None:
    """The checks that need no DNS, for a clear refusal when a URL is saved: http(s), and no
    literal address (in any spelling) or local name that the connection would refuse."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressNotAllowed("only http and https addresses")
    host = parts.hostname
    if is_allowed_host(host):
        return
    address = literal_address(host)
    name = host.lower().rstrip(".")
    if (address is not None and is_refused(address)) or (
        name in _LOCAL_NAMES or name.endswith(".localhost")
    ):
        raise AddressNotAllowed()


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses to connect to for host: every one it resolves to, all allowed."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise OutboundError("cannot resolve the host") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise OutboundError("cannot resolve the host")
    if not is_allowed_host(host):
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if is_refused(address) or "%" in text:
                raise AddressNotAllowed()
    return addresses


# -- the client ----------------------------------------------------------------------------


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves the host itself and connects only to addresses that passed the check."""

    def __init__(self) -> None:
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        error: Exception = OutboundError()
        for address in checked_addresses(host, port):
            try:
                return self._sockets.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise AddressNotAllowed()

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        # httpx builds its connection pool without a way to pass a network backend: the
        # same pool, with the guarded backend. tests/core/test_outbound.py fails if a new
        # httpx stops using it.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(),
        )


_shared_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _client() -> httpx.Client:
    """One client per process: it keeps connections, and its TLS setup (which costs tens of
    milliseconds), between calls."""
    global _shared_client
    if _shared_client is None:
        with _client_lock:
            if _shared_client is None:
                _shared_client = httpx.Client(
                    transport=_GuardedTransport(), follow_redirects=False, trust_env=False
                )
    return _shared_client


def _forget_client() -> None:
    # A forked worker must not share the parent's sockets (nor inherit a held lock).
    global _shared_client, _client_lock
    _shared_client, _client_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_client)


def max_timeout() -> float:
    return float(settings.SARAFAN_OUTBOUND_MAX_TIMEOUT_SECONDS)


def send(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json: Any = None,
    timeout: float,
    max_bytes: int = 1024 * 1024,
) -> Answer:
    """The status and body of one request, read within the timeout (capped) and max_bytes.

    A redirect is an answer like any other (its status), never followed.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise AddressNotAllowed("only http and https addresses")
    timeout = min(timeout, max_timeout())
    deadline = time.monotonic() + timeout
    headers = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        with _client().stream(method, url, json=json, headers=headers, timeout=timeout) as r:
            body = bytearray()
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise AnswerTooLarge()
                if time.monotonic() > deadline:
                    raise TimedOut()
            return Answer(r.status_code, bytes(body))
    except httpx.TimeoutException:
        raise TimedOut() from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError):
        raise OutboundError() from None
