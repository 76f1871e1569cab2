"""External issuers against a real HTTP server (tests/rewards/provider.py): the contract,
idempotent issue, which answers are retryable, the circuit, settings and the API."""

import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from sarafan.core import circuit
from sarafan.core.circuit import CIRCUIT_THRESHOLD, CircuitOpen
from sarafan.core.crypto import decrypt
from sarafan.core.errors import InvalidRequest
from sarafan.projects.services import create_project
from sarafan.rewards import issuer_client, issuers, pools
from sarafan.rewards.issuer_client import Issued, IssuerRefused, IssuerUnavailable
from sarafan.rewards.models import Issuer
from tests.conftest import ApiClient
from tests.processes import wait_until

pytestmark = pytest.mark.django_db
# An answer may take seconds on a loaded machine; the tests of timeouts set a short
# timeout themselves.
TIMEOUT_SECONDS = 30


@pytest.fixture
def issuer(project, provider):
    return issuers.create_issuer(
        project=project,
        livemode=False,
        name="Подарочные карты",
        url=provider.url,
        token=provider.token,
        timeout_seconds=TIMEOUT_SECONDS,
    )


def _issue(issuer, reference="rwd_1", amount="500.00", **kw):
    return issuer_client.issue(
        issuer,
        reference=reference,
        amount=Decimal(amount),
        currency=kw.pop("currency", "RUB"),
        brand=kw.pop("brand", "Ozon"),
        **kw,
    )


def _fresh(issuer):
    return Issuer.objects.get(pk=issuer.pk)


def _fail(issuer, times):
    for _ in range(times):
        with pytest.raises(IssuerUnavailable):
            _issue(issuer)


# -- issue ---------------------------------------------------------------------------------


def test_issue_sends_the_contract_and_parses_the_certificate(issuer, provider):
    issued = _issue(
        issuer,
        reference="rwd_abc",
        amount="500",
        recipient_email="anna@example.com",
        recipient_name="Анна",
    )

    certificate = provider.issued["rwd_abc"]
    assert issued == Issued(
        external_id=certificate["id"],
        code=certificate["code"],
        pin=certificate["pin"],
        amount=Decimal("500.00"),
        currency="RUB",
        expires_at=issued.expires_at,
        status="active",
    )
    assert issued.expires_at is not None
    assert issued.expires_at.isoformat() == certificate["expires_at"]
    [request] = provider.requests
    assert (request.method, request.path) == ("POST", "/v1/certificates")
    assert request.headers["authorization"] == f"Bearer {provider.token}"
    assert request.headers["idempotency-key"] == "rwd_abc"
    assert request.headers["user-agent"] == "Sarafan"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "reference": "rwd_abc",
        "amount": "500.00",
        "currency": "RUB",
        "brand": "Ozon",
        "recipient": {"email": "anna@example.com", "name": "Анна"},
    }
    stored = _fresh(issuer)
    assert stored.last_success_at is not None and stored.consecutive_failures == 0


def test_the_same_reference_twice_issues_one_certificate(issuer, provider):
    first = _issue(issuer, reference="rwd_same")
    again = _issue(issuer, reference="rwd_same")

    assert again == first
    assert len(provider.requests) == 2
    assert len(provider.issued) == 1 and provider.issue_count["rwd_same"] == 1
    assert _issue(issuer, reference="rwd_other").external_id != first.external_id


def test_an_answer_lost_to_a_timeout_is_recovered_by_the_retry_without_a_second_certificate(
    issuer, provider
):
    issuers.update_issuer(issuer, timeout_seconds=0.5)
    provider.mode = "timeout"
    with pytest.raises(IssuerUnavailable, match=r"No answer within 0\.5 s"):
        _issue(issuer, reference="rwd_lost")
    # The provider issues it while the client waits, or (on a loaded machine) a moment after
    # the client gave up.
    wait_until(
        lambda: provider.issue_count["rwd_lost"] == 1,
        timeout=60,
        message=lambda: f"issued {provider.issue_count['rwd_lost']} times",
    )

    provider.mode = "ok"
    issued = _issue(issuer, reference="rwd_lost")
    assert issued.external_id == provider.issued["rwd_lost"]["id"]
    assert provider.issue_count["rwd_lost"] == 1


def test_a_token_is_sent_only_when_one_is_set(project, provider):
    issuer = issuers.create_issuer(project=project, livemode=False, name="Open", url=provider.url)
    with pytest.raises(IssuerRefused, match="HTTP 401"):
        _issue(issuer)
    assert "authorization" not in provider.requests[0].headers


def test_wrong_token_is_refused_with_its_status_only(issuer, provider):
    issuers.update_issuer(issuer, token="not-the-token")
    with pytest.raises(IssuerRefused) as refused:
        _issue(issuer)
    assert refused.value.status_code == 401
    # Whoever sets the URL must not read what the server answers: status only.
    assert str(refused.value) == "The provider refused (HTTP 401)."


def test_a_refusal_quoting_the_token_logs_and_records_it_masked(issuer, provider, caplog):
    provider.mode = "echo"
    with (
        caplog.at_level(logging.WARNING, logger="sarafan.rewards.issuers"),
        pytest.raises(IssuerRefused) as refused,
    ):
        _issue(issuer)
    # The provider's words reach the installation's log only, with the token masked; the
    # caller and last_error get the status and a fixed reason.
    assert f"Rejected: authorization=Bearer {provider.token[:4]}…" in caplog.text
    for text in (str(refused.value), _fresh(issuer).last_error):
        assert text == "The provider refused (HTTP 422)."
    assert provider.token not in caplog.text


# -- failures ------------------------------------------------------------------------------


def test_server_error_is_unavailable_and_counted(issuer, provider):
    provider.mode = "fail"
    with pytest.raises(IssuerUnavailable) as failed:
        _issue(issuer)
    assert failed.value.status_code == 500
    assert str(failed.value) == "HTTP 500."
    stored = _fresh(issuer)
    assert stored.consecutive_failures == 1
    assert stored.last_error == "HTTP 500."
    assert stored.circuit_open_until is None


def test_rate_limit_is_unavailable(issuer, provider):
    provider.mode = "busy"
    with pytest.raises(IssuerUnavailable, match=r"^HTTP 429\.$"):
        _issue(issuer)
    assert _fresh(issuer).consecutive_failures == 1


def test_timeout_is_unavailable(issuer, provider):
    issuers.update_issuer(issuer, timeout_seconds=0.5)
    provider.mode = "timeout"
    started = timezone.now()
    with pytest.raises(IssuerUnavailable, match="No answer within"):
        _issue(issuer)
    # Given up at its timeout, not waiting for the provider's late answer.
    assert timezone.now() - started < timedelta(seconds=provider.delay / 2)
    assert _fresh(issuer).consecutive_failures == 1


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections: bound here and not listening, so that no other
    process can start listening on it during the test."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield int(bound.getsockname()[1])


def test_unreachable_provider_is_unavailable(project, closed_port, settings):
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["127.0.0.1"]
    issuer = issuers.create_issuer(
        project=project, livemode=False, name="Gone", url=f"http://127.0.0.1:{closed_port}"
    )
    with pytest.raises(IssuerUnavailable, match="Cannot reach the provider"):
        _issue(issuer)
    assert _fresh(issuer).consecutive_failures == 1


def test_refusal_carries_the_status_and_does_not_count_toward_the_circuit(issuer, provider):
    provider.mode = "fail"
    _fail(issuer, 2)
    provider.mode = "refuse"
    with pytest.raises(IssuerRefused) as refused:
        _issue(issuer)
    assert refused.value.status_code == 422
    assert str(refused.value) == "The provider refused (HTTP 422)."
    stored = _fresh(issuer)
    # The provider answered: it is up, and the run of failures is over.
    assert (stored.consecutive_failures, stored.circuit_open_until) == (0, None)
    assert stored.last_error == "The provider refused (HTTP 422)."
    assert stored.last_success_at is None


def test_garbage_is_unavailable(issuer, provider):
    provider.mode = "garbage"
    with pytest.raises(IssuerUnavailable, match="not JSON"):
        _issue(issuer)
    assert _fresh(issuer).consecutive_failures == 1


@pytest.mark.parametrize(
    "override",
    [
        {"code": ""},
        {"code": "X" * 201},
        {"code": None},
        {"id": None},
        {"id": ["cert"]},
        {"amount": "lots"},
        {"amount": None},
        {"expires_at": "next year"},
        {"status": "pending"},
    ],
)
def test_a_malformed_certificate_is_unavailable(issuer, provider, override):
    provider.override = override
    with pytest.raises(IssuerUnavailable, match="malformed"):
        _issue(issuer)
    assert _fresh(issuer).consecutive_failures == 1


@pytest.mark.parametrize(
    "override",
    [
        {"amount": "499.00"},
        {"amount": 5000},
        {"currency": "USD"},
        {"expires_at": "2020-01-01T00:00:00+00:00"},
    ],
)
def test_a_certificate_other_than_asked_is_refused(issuer, provider, override):
    provider.override = override
    with pytest.raises(IssuerRefused, match=r"\(its certificate cert_1\)"):
        _issue(issuer)
    assert _fresh(issuer).consecutive_failures == 0


def test_amounts_are_compared_as_numbers_and_dates_without_offset_are_utc(issuer, provider):
    provider.override = {"amount": 500, "expires_at": "2099-12-31", "pin": None}
    issued = _issue(issuer)
    assert issued.amount == Decimal("500.00") and issued.pin == ""
    assert issued.expires_at is not None
    assert (issued.expires_at.date().isoformat(), issued.expires_at.utcoffset()) == (
        "2099-12-31",
        timedelta(0),
    )


def test_fail_next_then_a_success_resets_the_failures(issuer, provider):
    provider.fail_next(2)
    _fail(issuer, 2)
    assert _fresh(issuer).consecutive_failures == 2
    _issue(issuer)
    assert _fresh(issuer).consecutive_failures == 0


# -- circuit -------------------------------------------------------------------------------


def test_failures_in_a_row_open_the_circuit_and_then_no_request_reaches_the_provider(
    issuer, provider
):
    provider.mode = "fail"
    _fail(issuer, CIRCUIT_THRESHOLD - 1)
    assert _fresh(issuer).circuit_open_until is None
    before = timezone.now()
    _fail(issuer, 1)
    after = timezone.now()
    stored = _fresh(issuer)
    assert stored.consecutive_failures == CIRCUIT_THRESHOLD
    assert stored.circuit_open_until is not None
    # A pause of 30 s from the failure, however long the failing call took.
    assert before + timedelta(seconds=30) <= stored.circuit_open_until
    assert stored.circuit_open_until <= after + timedelta(seconds=30)
    assert len(provider.requests) == CIRCUIT_THRESHOLD

    provider.mode = "ok"
    for call in (
        lambda: _issue(issuer),
        lambda: issuer_client.status(issuer, "cert_1"),
        lambda: issuer_client.cancel(issuer, "cert_1"),
    ):
        with pytest.raises(CircuitOpen) as paused:
            call()
        assert paused.value.until == stored.circuit_open_until
    assert len(provider.requests) == CIRCUIT_THRESHOLD
    assert circuit.circuit_state(_fresh(issuer)) == "open"


def _pause_over(issuer):
    Issuer.objects.filter(pk=issuer.pk).update(
        circuit_open_until=timezone.now() - timedelta(seconds=1)
    )


def test_after_the_pause_one_call_goes_through_and_success_closes_the_circuit(issuer, provider):
    provider.mode = "fail"
    _fail(issuer, CIRCUIT_THRESHOLD)
    _pause_over(issuer)
    assert circuit.circuit_state(_fresh(issuer)) == "half_open"

    provider.mode = "ok"
    _issue(issuer)
    assert len(provider.requests) == CIRCUIT_THRESHOLD + 1
    stored = _fresh(issuer)
    assert (stored.consecutive_failures, stored.circuit_open_until) == (0, None)
    assert circuit.circuit_state(stored) == "closed"
    _issue(issuer, reference="rwd_2")


def test_a_failed_probe_reopens_the_circuit_for_longer(issuer, provider):
    provider.mode = "fail"
    _fail(issuer, CIRCUIT_THRESHOLD)
    _pause_over(issuer)
    before = timezone.now()
    _fail(issuer, 1)
    after = timezone.now()
    stored = _fresh(issuer)
    assert stored.consecutive_failures == CIRCUIT_THRESHOLD + 1
    assert stored.circuit_open_until is not None
    # A pause of 60 s from the failed probe, however long the probe took.
    assert before + timedelta(seconds=60) <= stored.circuit_open_until
    assert stored.circuit_open_until <= after + timedelta(seconds=60)
    with pytest.raises(CircuitOpen):
        _issue(issuer)
    assert len(provider.requests) == CIRCUIT_THRESHOLD + 1


def test_a_probe_in_flight_keeps_other_callers_out(issuer, provider):
    provider.mode = "fail"
    _fail(issuer, CIRCUIT_THRESHOLD)
    _pause_over(issuer)
    # The probe's claim moves the pause past its own timeout; a second caller arriving
    # while it waits for the provider finds the circuit open.
    before = timezone.now()
    circuit.enter(issuer, call_timeout=timedelta(seconds=issuer.timeout_seconds))
    claimed = _fresh(issuer).circuit_open_until
    assert claimed is not None
    assert claimed > before + timedelta(seconds=issuer.timeout_seconds)
    with pytest.raises(CircuitOpen):
        _issue(issuer)
    assert len(provider.requests) == CIRCUIT_THRESHOLD


def test_the_pause_doubles_up_to_ten_minutes():
    pauses = [circuit.circuit_pause(CIRCUIT_THRESHOLD + n) for n in range(7)]
    assert [p.total_seconds() for p in pauses] == [30, 60, 120, 240, 480, 600, 600]
    assert circuit.circuit_pause(10**6) == timedelta(minutes=10)


def test_a_new_url_or_token_closes_the_circuit(issuer, provider):
    provider.mode = "fail"
    _fail(issuer, CIRCUIT_THRESHOLD)
    # The same token and url again are not a new configuration.
    issuers.update_issuer(issuer, name="Renamed", token=provider.token, url=provider.url)
    assert _fresh(issuer).circuit_open_until is not None
    issuers.update_issuer(issuer, token="rotated-token")
    stored = _fresh(issuer)
    assert (stored.consecutive_failures, stored.circuit_open_until) == (0, None)

    _fail(issuer, CIRCUIT_THRESHOLD)
    issuers.update_issuer(issuer, url=provider.url + "/")
    stored = _fresh(issuer)
    assert (stored.consecutive_failures, stored.circuit_open_until) == (0, None)


# -- status and cancel ---------------------------------------------------------------------


def test_status_and_cancel(issuer, provider):
    issued = _issue(issuer)
    assert issuer_client.status(issuer, issued.external_id) == "active"

    issuer_client.cancel(issuer, issued.external_id)
    assert issuer_client.status(issuer, issued.external_id) == "cancelled"
    assert provider.requests[2][:2] == ("POST", f"/v1/certificates/{issued.external_id}/cancel")
    assert provider.requests[2].headers["authorization"] == f"Bearer {provider.token}"
    # Cancelling again, or a certificate the provider does not know, is done already.
    issuer_client.cancel(issuer, issued.external_id)
    issuer_client.cancel(issuer, "cert_unknown")

    with pytest.raises(IssuerRefused, match=r"HTTP 404"):
        issuer_client.status(issuer, "cert_unknown")


def test_a_redeemed_certificate_cannot_be_cancelled(issuer, provider):
    issued = _issue(issuer)
    provider.find(issued.external_id)["status"] = "redeemed"
    assert issuer_client.status(issuer, issued.external_id) == "redeemed"
    with pytest.raises(IssuerRefused, match=r"HTTP 409"):
        issuer_client.cancel(issuer, issued.external_id)


def test_status_and_cancel_failures_count_toward_the_circuit(issuer, provider):
    issued = _issue(issuer)
    provider.mode = "fail"
    with pytest.raises(IssuerUnavailable):
        issuer_client.status(issuer, issued.external_id)
    provider.mode = "garbage"
    with pytest.raises(IssuerUnavailable):
        issuer_client.status(issuer, issued.external_id)
    provider.mode = "timeout"
    issuers.update_issuer(issuer, timeout_seconds=0.5)
    with pytest.raises(IssuerUnavailable):
        issuer_client.cancel(issuer, issued.external_id)
    assert _fresh(issuer).consecutive_failures == 3


def test_an_id_is_one_path_segment(issuer, provider):
    with pytest.raises(IssuerRefused):
        issuer_client.status(issuer, "../certificates")
    assert provider.requests[0].path == "/v1/certificates/..%2Fcertificates"


# -- backoff -------------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_an_hour():
    for attempt, base in [(1, 5), (2, 10), (3, 20), (4, 40), (10, 2560)]:
        delays = {issuer_client.backoff(attempt).total_seconds() for _ in range(50)}
        assert all(base * 0.8 <= d <= base * 1.2 for d in delays), (attempt, delays)
        assert len(delays) > 1
    for attempt in (11, 12, 1000):
        capped = [issuer_client.backoff(attempt).total_seconds() for _ in range(50)]
        assert all(3600 * 0.8 <= d <= 3600 for d in capped)
    with pytest.raises(ValueError):
        issuer_client.backoff(0)


# -- settings ------------------------------------------------------------------------------


def test_the_token_is_stored_encrypted_only(project):
    issuer = issuers.create_issuer(
        project=project,
        livemode=True,
        name="  Карты  ",
        url="https://api.cards.example/v2/",
        token="  s3cr3t-token  ",
    )
    assert issuer.public_id.startswith("iss_")
    assert (issuer.name, issuer.livemode, issuer.timeout_seconds, issuer.max_attempts) == (
        "Карты",
        True,
        10.0,
        8,
    )
    stored = _fresh(issuer)
    assert "s3cr3t" not in stored.token_encrypted
    assert decrypt(stored.token_encrypted) == stored.token_value() == "s3cr3t-token"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", "X" * 201),
        ("url", "ftp://files.example/"),
        ("url", "javascript:alert(1)"),
        ("url", "not a url"),
        ("url", "https://"),
        ("url", "https://user:password@api.example/"),
        ("url", "https://api.example/?key=secret"),
        ("url", "https://api.example:port/"),
        ("url", "https://api.example/" + "x" * 500),
        ("token", "with space"),
        ("token", "x" * 2001),
        ("timeout_seconds", 0.4),
        ("timeout_seconds", 61),
        ("timeout_seconds", float("nan")),
        ("max_attempts", 0),
        ("max_attempts", 51),
        ("max_attempts", 2.5),
    ],
)
def test_bad_settings_are_refused_by_name(project, field, value):
    settings = {"name": "Cards", "url": "https://api.example/", field: value}
    with pytest.raises(InvalidRequest) as refused:
        issuers.create_issuer(project=project, livemode=False, **settings)
    assert refused.value.param == field
    issuer = issuers.create_issuer(
        project=project, livemode=False, name="Cards", url="https://api.example/"
    )
    with pytest.raises(InvalidRequest) as refused:
        issuers.update_issuer(issuer, **{field: value})
    assert refused.value.param == field
    assert _fresh(issuer).url == "https://api.example/"


def test_the_brand_must_be_of_the_same_project_and_mode(project):
    live_brand = pools.create_brand(project=project, livemode=True, name="Ozon")
    other, _keys = create_project(name="Other")
    other_brand = pools.create_brand(project=other, livemode=False, name="Ozon")
    for brand in (live_brand, other_brand):
        with pytest.raises(InvalidRequest) as refused:
            issuers.create_issuer(
                project=project, livemode=False, name="C", url="https://a.example", brand=brand
            )
        assert refused.value.param == "brand"
    issuer = issuers.create_issuer(
        project=project, livemode=True, name="C", url="https://a.example", brand=live_brand
    )
    assert issuers.update_issuer(issuer, brand=None).brand is None


def test_update_changes_only_what_is_given(issuer, provider):
    Issuer.objects.filter(pk=issuer.pk).update(consecutive_failures=3)
    issuers.update_issuer(issuer, name="Новое имя", max_attempts=3, timeout_seconds=1)
    stored = _fresh(issuer)
    assert (stored.name, stored.max_attempts, stored.timeout_seconds) == ("Новое имя", 3, 1.0)
    # The stale in-memory count was not written back over the circuit's.
    assert stored.consecutive_failures == 3
    assert stored.token_value() == provider.token
    issuers.update_issuer(issuer, token="")
    assert _fresh(issuer).token_encrypted == ""
    with pytest.raises(TypeError):
        issuers.update_issuer(issuer, consecutive_failures=0)


# -- API -----------------------------------------------------------------------------------


def _create(api, **fields):
    body = {"name": "Карты", "url": "https://api.cards.example/v1", **fields}
    response = api.post("issuers", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_issuer_is_created_listed_read_and_changed_through_the_api(api):
    brand = api.post("brands", {"name": "Ozon"}).json()
    created = _create(api, token="tok-123456", brand=brand["id"], timeout_seconds=5, max_attempts=3)
    assert created["id"].startswith("iss_")
    assert {k: v for k, v in created.items() if k not in ("id", "created_at")} == {
        "object": "issuer",
        "livemode": False,
        "name": "Карты",
        "url": "https://api.cards.example/v1",
        "brand": brand["id"],
        "timeout_seconds": 5.0,
        "max_attempts": 3,
        "has_token": True,
        "circuit": {
            "state": "closed",
            "failures": 0,
            "open_until": None,
            "last_error": None,
            "last_success_at": None,
        },
    }
    assert api.get(f"issuers/{created['id']}").json() == created
    listed = api.get("issuers").json()
    assert listed["data"] == [created] and listed["has_more"] is False

    changed = api.patch(f"issuers/{created['id']}", {"name": "Cards", "brand": None})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["name"], changed.json()["brand"]) == ("Cards", None)
    assert changed.json()["url"] == created["url"] and changed.json()["has_token"] is True
    removed = api.patch(f"issuers/{created['id']}", {"token": ""}).json()
    assert removed["has_token"] is False
    assert api.get(f"issuers/{created['id']}").json() == removed


def test_the_token_is_never_returned(api):
    created = _create(api, token="very-secret-value")
    responses = [
        api.get(f"issuers/{created['id']}"),
        api.get("issuers"),
        api.patch(f"issuers/{created['id']}", {"token": "another-secret-value"}),
    ]
    for response in responses:
        assert b"secret-value" not in response.content
        assert b"token_encrypted" not in response.content


def test_the_api_shows_the_circuit(api, project, provider):
    created = _create(api, url=provider.url, token=provider.token)
    issuer = Issuer.objects.get(public_id=created["id"])
    provider.mode = "fail"
    _fail(issuer, CIRCUIT_THRESHOLD)
    circuit = api.get(f"issuers/{created['id']}").json()["circuit"]
    assert (circuit["state"], circuit["failures"]) == ("open", CIRCUIT_THRESHOLD)
    assert circuit["open_until"] is not None
    assert circuit["last_error"] == "HTTP 500."
    _pause_over(issuer)
    assert api.get(f"issuers/{created['id']}").json()["circuit"]["state"] == "half_open"
    provider.mode = "ok"
    _issue(issuer)
    circuit = api.get(f"issuers/{created['id']}").json()["circuit"]
    assert (circuit["state"], circuit["failures"], circuit["open_until"]) == ("closed", 0, None)
    assert circuit["last_success_at"] is not None


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "", "url": "https://a.example"}, "name"),
        ({"name": "X", "url": "ftp://a.example"}, "url"),
        ({"name": "X", "url": "https://a.example", "timeout_seconds": 0.1}, "timeout_seconds"),
        ({"name": "X", "url": "https://a.example", "max_attempts": 100}, "max_attempts"),
        ({"name": "X", "url": "https://a.example", "token": "a b"}, "token"),
        ({"name": "X", "url": "https://a.example", "max_attempts": "many"}, "max_attempts"),
        ({"name": "X", "url": "https://a.example", "password": "x"}, "password"),
        ({"name": "X"}, "url"),
    ],
)
def test_bad_issuer_input_is_422_in_the_error_shape(api, body, param):
    response = api.post("issuers", body)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request", param)
    assert error["message"]
    assert api.get("issuers").json()["data"] == []


def test_bad_changes_are_422_and_change_nothing(api):
    created = _create(api)
    for body, param in [
        ({"url": "http//nope"}, "url"),
        ({"timeout_seconds": 100}, "timeout_seconds"),
        ({"name": "Y", "max_attempts": 0}, "max_attempts"),
        ({"circuit": {}}, "circuit"),
    ]:
        response = api.patch(f"issuers/{created['id']}", body)
        assert response.status_code == 422, body
        assert response.json()["error"]["param"] == param
    assert api.get(f"issuers/{created['id']}").json() == created


def test_issuers_are_scoped_by_project_and_mode(api, live_api):
    created = _create(api)
    _other, keys = create_project(name="Other")
    other_api = ApiClient(Client(), keys["secret_key_test"])
    for client in (live_api, other_api):
        for response in (
            client.get(f"issuers/{created['id']}"),
            client.patch(f"issuers/{created['id']}", {"name": "Mine"}),
        ):
            assert response.status_code == 404
            assert response.json()["error"] == {
                "type": "not_found",
                "code": "not_found",
                "message": f"No issuer '{created['id']}'.",
                "param": "id",
            }
        assert client.get("issuers").json()["data"] == []
    live_brand = live_api.post("brands", {"name": "Ozon"}).json()
    missing = api.post(
        "issuers", {"name": "X", "url": "https://a.example", "brand": live_brand["id"]}
    )
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "brand"
    assert api.patch(f"issuers/{created['id']}", {"brand": live_brand["id"]}).status_code == 404
    assert api.get(f"issuers/{created['id']}").json()["name"] == "Карты"


def test_issuers_need_a_secret_key(anon_api, project_keys):
    assert anon_api.get("issuers").status_code == 401
    publishable = ApiClient(Client(), project_keys.keys["publishable_key_test"])
    assert publishable.post("issuers", {"name": "X", "url": "https://a"}).status_code in (
        401,
        403,
    )
