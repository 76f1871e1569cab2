"""No certificate code, PIN, API key or portal token reaches a log line.

Requests go through Django's real handler (which logs every 4xx to `django.request`) and
are read back both from pytest's capture and from the console handler settings.LOGGING
installed, writing into a buffer for the test.
"""

import io
import logging
from collections.abc import Iterator

import pytest
from django.test import Client

from sarafan.core.logging import MaskSecrets, mask, mask_record, mask_text
from sarafan.participants.models import Participant
from sarafan.rewards.models import Certificate
from tests.factories import create_campaign, create_referrer, order

RULES = [{"recipient": "referrer", "trigger": "first_order", "kind": "fixed", "amount": "500.00"}]
KEY = "sk_test_" + "Q" * 32


class Written:
    """What the configured console handler wrote during a test."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def written() -> Iterator[Written]:
    """The root logger's console handler from settings.LOGGING, writing into a buffer."""
    [handler] = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler)
        and any(isinstance(f, MaskSecrets) for f in h.filters)
    ]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    # Swapped without setStream: that flushes the stream it replaces, which may be a capture
    # file an earlier test of this worker has closed.
    previous, handler.stream = handler.stream, buffer
    try:
        yield Written(buffer)
    finally:
        handler.stream = previous


@pytest.fixture
def certificate(api) -> Certificate:
    create_campaign(api, rules=[{**RULES[0], "hold_days": 0}])
    code = create_referrer(api, "u-7")["referral_code"]
    response = order(api, "c-1", "o-1", code=code)
    assert response.status_code == 201, response.content
    return Certificate.objects.get()


def logged(caplog, written: Written) -> str:
    return caplog.text + written.text


def assert_secret_free(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} was logged:\n{text}"


# --- masking itself ----------------------------------------------------------------------


def test_masked_values_keep_their_first_characters_for_correlation():
    assert mask("Zx9_abcdefghijklmnopqrstuvwxyz") == "Zx9_…"
    assert mask("DEMO-1234") == "DE…"
    assert mask("123456") == "…"  # a PIN keeps nothing
    assert mask_text("SF-ABCD-EFGH-JKMN-PQRS") == "SF-AB…"
    assert mask_text(f"key {KEY}") == "key sk_test_QQQQ…"
    assert mask_text("pk_live_short1") == "pk_live_…"


def test_secret_bearing_url_shapes_are_masked_and_others_kept():
    assert (
        mask_text("Not Found: /api/v1/certificates/DEMO-1234-5678/redeem")
        == "Not Found: /api/v1/certificates/DE…/redeem"
    )
    assert mask_text("/p/Zx9_abcdefghijklmnopqrstuv/rewards/rwd_1/brand") == (
        "/p/Zx9_…/rewards/rwd_1/brand"
    )
    assert mask_text("/x?page=2&pin=123456&api_key=abcdefghij&token=t") == (
        "/x?page=2&pin=…&api_key=ab…&token=…"
    )
    assert mask_text("code=DEMO-1234ABCD&utm_source=mail") == "code=DE…&utm_source=mail"
    # Referral links are public, public ids are not secrets.
    assert mask_text("/r/ABCD2345 rwd_abc crt_def") == "/r/ABCD2345 rwd_abc crt_def"
    # Masking twice changes nothing (a record passes through several handlers).
    once = mask_text(f"/api/v1/certificates/SF-ABCD-EFGH-JKMN-PQRS?key={KEY}")
    assert mask_text(once) == once


def test_record_arguments_tracebacks_and_access_log_fields_are_masked():
    try:
        raise ValueError("No certificate SF-ABCD-EFGH-JKMN-PQRS")
    except ValueError as exc:
        record = logging.LogRecord(
            "sarafan.x", logging.ERROR, __file__, 1, "%s for %s: %d", (exc, KEY, 3), None
        )
        record.exc_info = (type(exc), exc, exc.__traceback__)
    mask_record(record)
    text = logging.Formatter().format(record)
    assert "SF-ABCD" not in text and KEY not in text
    assert "No certificate SF-AB… for sk_test_QQQQ…: 3" in text

    access = logging.LogRecord(
        "granian.access",
        logging.INFO,
        __file__,
        1,
        '"%(method)s %(path)s?%(query_string)s" %(status)d',
        (
            {
                "method": "GET",
                "path": "/p/Zx9_abcdefghijklmnop",
                "query_string": "pin=1234",
                "status": 404,
            },
        ),
        None,
    )
    mask_record(access)
    assert access.getMessage() == '"GET /p/Zx9_…?pin=…" 404'


# --- requests that fail --------------------------------------------------------------------


def test_certificate_404_400_409_log_the_path_with_the_code_masked(
    api, live_api, certificate, caplog, written
):
    code, pin = certificate.code_value(), certificate.pin_value()
    with caplog.at_level(logging.WARNING):
        # 404: the live key does not see a test certificate.
        assert live_api.get(f"certificates/{code}").status_code == 404
        assert (
            live_api.post(
                f"certificates/{code}/redeem", {"amount": "1.00", "order_id": "a"}
            ).status_code
            == 404
        )
        # 400: not a valid body; 409: more than the balance.
        assert api.post(f"certificates/{code}/redeem", {"amount": "x"}).status_code in (400, 422)
        too_much = {"amount": "9000.00", "order_id": "o-2"}
        assert api.post(f"certificates/{code}/redeem", too_much).status_code == 409

    text = logged(caplog, written)
    assert_secret_free(text, code, pin)
    assert_secret_free(text, code.lower(), code[3:])
    masked = mask_text(f"/api/v1/certificates/{code}")
    assert f"Not Found: {masked}/redeem" in caplog.text
    assert f"Conflict: {masked}/redeem" in written.text
    assert masked.endswith("…")


def test_wrong_api_key_is_not_logged(db, caplog, written):
    client = Client()
    with caplog.at_level(logging.INFO):
        answer = client.get(
            f"/api/v1/certificates/SF-ABCD-EFGH-JKMN-PQRS?key={KEY}",
            headers={"Authorization": f"Bearer {KEY}"},
        )
    assert answer.status_code == 401
    text = logged(caplog, written)
    assert "Unauthorized: /api/v1/certificates/SF-AB…" in text
    assert_secret_free(text, KEY, KEY[8:], "SF-ABCD-EFGH-JKMN-PQRS")


def test_portal_404_logs_the_token_masked(api, certificate, client, caplog, written):
    token = Participant.objects.get(external_id="u-7").portal_token_value()
    with caplog.at_level(logging.WARNING):
        assert client.post(f"/p/{token}/rewards/rwd_unknown/brand").status_code == 404
        assert client.get(f"/p/{token}x").status_code == 404
    text = logged(caplog, written)
    assert_secret_free(text, token)
    assert f"Not Found: /p/{token[:4]}…/rewards/rwd_unknown/brand" in text


def test_unhandled_error_on_a_certificate_path_logs_it_masked(caplog, written):
    logger = logging.getLogger("sarafan.api")
    try:
        raise RuntimeError("lookup of SF-ABCD-EFGH-JKMN-PQRS failed")
    except RuntimeError:
        logger.exception("unhandled error on %s %s", "GET", "/api/v1/certificates/DEMO-12345678")
    text = logged(caplog, written)
    assert_secret_free(text, "SF-ABCD-EFGH-JKMN-PQRS", "DEMO-12345678")
    assert "RuntimeError: lookup of SF-AB… failed" in written.text
