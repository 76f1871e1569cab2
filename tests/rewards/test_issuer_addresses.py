"""An issuer's URL cannot reach the installation's own network, and what a server answers
is never handed back: against a loopback "metadata" server the tests start."""

import socket
from collections.abc import Iterator
from decimal import Decimal

import pytest

from sarafan.rewards import issuer_client, issuers
from sarafan.rewards.issuer_client import IssuerRefused, IssuerUnavailable
from sarafan.rewards.models import Issuer
from tests.receivers import Receiver, receiver

pytestmark = pytest.mark.django_db
SECRET = b'{"error": {"message": "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI"}, "Code": "Success"}'


@pytest.fixture
def metadata() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


def _issue(issuer: Issuer) -> object:
    return issuer_client.issue(
        issuer, reference="rwd_1", amount=Decimal("500.00"), currency="RUB", brand=""
    )


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "localhost",
        "169.254.169.254",
        "10.0.0.1",
        "100.64.0.1",
        "[fd00::1]",
    ],
)
def test_an_issuer_url_on_a_local_network_is_refused_when_saved(api, metadata, host):
    response = api.post(
        "issuers", {"name": "X", "url": f"http://{host}:{metadata.port}/latest/meta-data"}
    )
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request",
        "address_not_allowed",
        "url",
    )
    created = api.post("issuers", {"name": "Y", "url": "https://gifts.example/v1"}).json()
    changed = api.patch(f"issuers/{created['id']}", {"url": f"http://{host}:{metadata.port}/"})
    assert changed.status_code == 422
    assert changed.json()["error"]["param"] == "url"
    assert metadata.requests == []


def test_a_url_saved_before_is_refused_when_calling(api, project, metadata, settings):
    # Saved while allowed (or before this check, or resolving elsewhere then): the call
    # itself refuses, and the reason is fixed.
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["localhost"]
    issuer = issuers.create_issuer(
        project=project, livemode=False, name="X", url=f"http://localhost:{metadata.port}"
    )
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = []
    with pytest.raises(IssuerRefused, match="local or private network"):
        _issue(issuer)
    assert metadata.requests == []
    circuit = api.get(f"issuers/{issuer.public_id}").json()["circuit"]
    assert circuit["last_error"].startswith("The provider's address is on a local")


def test_an_allowed_host_is_called(project, metadata, settings):
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["localhost"]
    issuer = issuers.create_issuer(
        project=project, livemode=False, name="X", url=f"http://localhost:{metadata.port}/v1"
    )
    metadata.status = 404
    with pytest.raises(IssuerRefused, match=r"HTTP 404"):
        _issue(issuer)
    assert [(m, p) for m, p, _h in metadata.requests] == [("POST", "/v1/certificates")]


@pytest.mark.parametrize(("status", "error"), [(503, IssuerUnavailable), (403, IssuerRefused)])
def test_the_answer_body_is_never_stored_or_shown(api, project, metadata, settings, status, error):
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["127.0.0.1"]
    issuer = issuers.create_issuer(
        project=project, livemode=False, name="X", url=f"http://127.0.0.1:{metadata.port}"
    )
    metadata.status, metadata.body = status, SECRET
    with pytest.raises(error) as raised:
        _issue(issuer)
    assert "wJalr" not in str(raised.value) and str(status) in str(raised.value)
    shown = api.get(f"issuers/{issuer.public_id}").content
    assert b"wJalr" not in shown and b"AWS" not in shown
    assert str(status).encode() in shown
    assert "wJalr" not in Issuer.objects.get(pk=issuer.pk).last_error
    # Nor an answer that is not the contract's.
    metadata.status = 200
    with pytest.raises(IssuerUnavailable, match=r"not JSON|malformed"):
        _issue(issuer)
    assert b"wJalr" not in api.get(f"issuers/{issuer.public_id}").content


def test_a_redirect_is_not_followed(project, metadata, settings):
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["127.0.0.1"]
    with receiver() as inner:
        metadata.redirect_to = f"http://127.0.0.1:{inner.port}/latest/meta-data"
        issuer = issuers.create_issuer(
            project=project, livemode=False, name="X", url=f"http://127.0.0.1:{metadata.port}"
        )
        with pytest.raises(IssuerRefused, match="redirect"):
            _issue(issuer)
        assert len(metadata.requests) == 1
        assert inner.requests == []


def test_timeouts_above_the_installations_cap_are_refused(api, settings):
    body = {"name": "X", "url": "https://gifts.example/v1"}
    assert api.post("issuers", {**body, "timeout_seconds": 30}).status_code == 201
    response = api.post("issuers", {**body, "timeout_seconds": 31})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "timeout_seconds"
    settings.SARAFAN_OUTBOUND_MAX_TIMEOUT_SECONDS = 5
    assert api.post("issuers", {**body, "timeout_seconds": 6}).status_code == 422


def test_ipv6_loopback_is_not_called(project):
    with receiver(socket.AF_INET6) as server:
        issuer = Issuer.objects.create(
            project=project, livemode=False, name="Old", url=f"http://[::1]:{server.port}"
        )
        with pytest.raises(IssuerRefused, match="local or private"):
            _issue(issuer)
        assert server.requests == []
