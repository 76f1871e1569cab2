"""Certificate e-mails and expiry reminders, sent to a real SMTP server the test starts."""

import email.message
import logging
import struct
import zlib
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import segno
from django.conf import settings
from django.utils import timezone

from sarafan.core.errors import Conflict
from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.rewards.delivery import deliver, mask_email, send_expiry_reminders
from sarafan.rewards.models import Brand, Certificate, Delivery, Reward, RewardEvent
from tests.factories import create_campaign, create_referrer, order, resend_now
from tests.rewards.smtp import TIMEOUT_SECONDS, SmtpServer, mailer, start_server

RULES = [
    {
        "recipient": "referrer",
        "trigger": "first_order",
        "kind": "fixed",
        "amount": "1500.00",
        "hold_days": 0,
    }
]
MOSCOW = ZoneInfo("Europe/Moscow")
EXPIRES = datetime(2031, 3, 15, 12, 0, tzinfo=MOSCOW)
TERMS = "Valid in all Lavka shops.\nNot exchangeable for cash."


@pytest.fixture
def campaign(api):
    return create_campaign(api, rules=RULES)


def issue(api, referrer="u-7", customer="c-1", **fields):
    """An issued reward of 1 500 ₽ for `referrer`, paid through the events API."""
    participant = Participant.objects.filter(external_id=referrer).first()
    if participant is None:
        code = create_referrer(api, referrer, **fields)["referral_code"]
    else:
        code = participant.referral_code
    response = order(api, customer, f"o-{customer}", code=code)
    assert response.status_code == 201, response.content
    [data] = response.json()["rewards"]
    assert data["status"] == "issued"
    return Reward.objects.get(public_id=data["id"])


def certificate_of(reward):
    return Certificate.objects.get(reward=reward)


def parts(message):
    """The plain text, the HTML and the inline images of a received message."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    return text, html, images


def png_modules(png):
    """The dark/light modules of a QR symbol drawn in a PNG (greyscale, no interlace)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, data, header = 8, b"", None
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        body = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data += body
        position += 12 + length
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert (color, interlace) == (0, 0)
    raw = zlib.decompress(data)
    stride = (width * depth + 7) // 8
    rows, previous, offset = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[offset], bytearray(raw[offset + 1 : offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            left = line[i - 1] if i else 0
            up, corner = previous[i], previous[i - 1] if i else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        rows.append(line)
        previous = line
    top = 1 << depth

    def dark(x, y):
        bits = rows[y][x * depth // 8] >> (8 - depth - (x * depth) % 8) & (top - 1)
        return bits < top // 2

    # The finder pattern's top edge is seven modules long: it gives the quiet zone and scale.
    start = next(i for i in range(width) if dark(i, i))
    run = next(i for i in range(start, width) if not dark(i, start)) - start
    scale = run // 7
    size = (width - 2 * start) // scale
    return [
        [dark(start + x * scale + scale // 2, start + y * scale + scale // 2) for x in range(size)]
        for y in range(size)
    ]


def qr_encodes(png, text):
    """The PNG is the QR symbol of `text` (at whichever error correction level it was made)."""
    modules = png_modules(png)
    return any(
        modules == [[bool(m) for m in row] for row in segno.make(text, error=level).matrix]
        for level in "lmqh"
    )


# --- the certificate e-mail --------------------------------------------------------------


def test_certificate_email_in_russian_has_everything_to_spend_it(api, campaign, smtp, project):
    brand = api.post(
        "brands", {"name": "Лавка", "logo_url": "https://cdn.example/lavka.png", "terms": TERMS}
    ).json()
    Project.objects.filter(pk=project.pk).update(email_from="Shop <rewards@shop.example>")
    reward = issue(api)
    Certificate.objects.filter(reward=reward).update(
        expires_at=EXPIRES, catalog_brand=Brand.objects.get(public_id=brand["id"])
    )
    certificate = certificate_of(reward)
    participant = reward.recipient

    delivery = deliver(reward.pk)

    assert delivery is not None and delivery.status == "sent"
    [received] = smtp.inbox.messages
    assert received.rcpt_tos == ["u-7@example.ru"]
    message = received.message
    assert message["To"].addresses[0].addr_spec == "u-7@example.ru"
    assert message["To"].addresses[0].display_name == "Анна"
    assert message["From"] == "Shop <rewards@shop.example>"
    assert message["Content-Language"] == "ru"
    assert "Лавка" in message["Subject"]
    assert "1\xa0500 ₽" in message["Subject"]
    text, html, [image] = parts(message)
    portal = f"{settings.BASE_URL}/p/{participant.portal_token_value()}"
    for body in (text, html):
        assert certificate.code_value() in body
        assert certificate.pin_value() in body
        assert "1\xa0500 ₽" in body
        assert "15 марта 2031" in body
        assert "Not exchangeable for cash." in body
        assert portal in body
    assert "Valid in all Lavka shops.<br>Not exchangeable for cash." in html
    assert 'src="https://cdn.example/lavka.png"' in html
    assert '<html lang="ru">' in html
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    assert image.get_content_disposition() == "inline"
    assert qr_encodes(image.get_content(), certificate.code_value())
    # The QR travels beside the HTML it illustrates.
    assert message.get_body(preferencelist=("related",)) is not None


def test_certificate_email_in_english_for_an_english_speaker(api, campaign, smtp):
    reward = issue(api)
    Participant.objects.filter(pk=reward.recipient_id).update(language="en")
    Certificate.objects.filter(reward=reward).update(expires_at=EXPIRES)
    certificate = certificate_of(reward)

    delivery = deliver(reward.pk)

    assert delivery is not None and delivery.language == "en"
    [message] = smtp.messages
    assert message["Subject"] == "Your Shop gift certificate for 1,500 ₽"
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    assert message["Content-Language"] == "en"
    text, html, [image] = parts(message)
    for body in (text, html):
        assert "Hello, Анна!" in body
        assert certificate.code_value() in body
        assert certificate.pin_value() in body
        assert "1,500 ₽" in body
        assert "March 15, 2031" in body
    assert "Terms of use" not in text
    assert '<img src="https://' not in html
    assert qr_encodes(image.get_content(), certificate.code_value())


def test_first_email_moves_the_reward_to_delivered_with_history(api, campaign, smtp):
    reward = issue(api)

    deliver(reward.pk)

    assert api.get(f"rewards/{reward.public_id}").json()["status"] == "delivered"
    last = RewardEvent.objects.filter(reward=reward).last()
    assert last is not None
    assert (last.from_status, last.to_status, last.actor) == ("issued", "delivered", "system")
    assert last.note == "e-mailed to u***@example.ru"


def test_a_second_deliver_sends_nothing(api, campaign, smtp):
    reward = issue(api)
    assert deliver(reward.pk) is not None

    assert deliver(reward.pk) is None

    assert len(smtp.messages) == 1
    assert Delivery.objects.filter(reward=reward).count() == 1


def test_resend_sends_again_and_records_who_asked(api, campaign, smtp):
    reward = issue(api)
    deliver(reward.pk)

    delivery = resend_now(reward, actor="console:olga@shop.example")

    assert delivery.status == "sent"
    assert delivery.actor == "console:olga@shop.example"
    assert delivery.kind == "certificate"
    assert len(smtp.messages) == 2
    assert certificate_of(reward).code_value() in parts(smtp.messages[1])[0]
    assert RewardEvent.objects.filter(reward=reward, to_status="delivered").count() == 1


def test_resend_of_an_issued_reward_delivers_it(api, campaign, smtp):
    reward = issue(api)

    resend_now(reward, actor="console:olga@shop.example")

    reward.refresh_from_db()
    assert reward.status == "delivered"
    assert RewardEvent.objects.get(reward=reward, to_status="delivered").actor == (
        "console:olga@shop.example"
    )


def test_smtp_server_down_records_a_failure_and_keeps_the_reward_issued(
    api, campaign, smtp, settings, caplog
):
    reward = issue(api)
    certificate = certificate_of(reward)
    smtp.stop()

    with caplog.at_level(logging.WARNING, logger="sarafan.rewards.delivery"):
        delivery = deliver(reward.pk)

    assert delivery is not None
    assert delivery.status == "failed"
    assert delivery.error
    assert (
        certificate.code_value() not in delivery.error
        and certificate.pin_value() not in delivery.error
    )
    assert "u***@example.ru" in caplog.text
    assert (
        certificate.code_value() not in caplog.text and certificate.pin_value() not in caplog.text
    )
    reward.refresh_from_db()
    assert reward.status == "issued"

    # The task's retry, once the server is back, sends it.
    server = start_server()
    try:
        settings.MAILERS = mailer(server.port)
        retried = deliver(reward.pk)
        assert retried is not None and retried.status == "sent"
        assert len(server.messages) == 1
    finally:
        server.stop()
    reward.refresh_from_db()
    assert reward.status == "delivered"


def test_refused_address_is_recorded_masked(api, campaign, smtp):
    reward = issue(api)
    smtp.inbox.refused.add("u-7@example.ru")

    delivery = deliver(reward.pk)

    assert delivery is not None and delivery.status == "failed"
    assert delivery.to == "u-7@example.ru"
    assert "550" in delivery.error
    assert "u***@example.ru" in delivery.error and "u-7@example.ru" not in delivery.error
    reward.refresh_from_db()
    assert reward.status == "issued"


def test_no_email_address_sends_nothing(api, campaign, smtp):
    reward = issue(api)
    Participant.objects.filter(pk=reward.recipient_id).update(email="")

    assert deliver(reward.pk) is None

    with pytest.raises(Conflict) as refused:
        resend_now(reward, actor="console:olga@shop.example")
    assert refused.value.code == "no_email"
    assert smtp.messages == []
    assert not Delivery.objects.exists()


def test_erased_participant_gets_nothing(api, campaign, smtp):
    reward = issue(api)
    assert api.delete("participants/u-7").status_code == 200

    assert deliver(reward.pk) is None
    assert smtp.messages == []


def test_project_that_does_not_email_certificates_sends_nothing(api, campaign, smtp, project):
    reward = issue(api)
    Project.objects.filter(pk=project.pk).update(email_rewards=False)

    assert deliver(reward.pk) is None

    with pytest.raises(Conflict) as refused:
        resend_now(reward, actor="console:olga@shop.example")
    assert refused.value.code == "email_disabled"
    assert smtp.messages == []


def test_cancelled_certificate_is_not_sent(api, campaign, smtp):
    reward = issue(api)
    assert api.post(f"rewards/{reward.public_id}/cancel").json()["status"] == "cancelled"

    assert deliver(reward.pk) is None

    with pytest.raises(Conflict) as refused:
        resend_now(reward, actor="console:olga@shop.example")
    assert refused.value.code == "nothing_to_send"
    assert smtp.messages == []


def test_certificate_past_its_expiry_is_not_sent(api, campaign, smtp):
    reward = issue(api)
    Certificate.objects.filter(reward=reward).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    assert deliver(reward.pk) is None

    with pytest.raises(Conflict) as refused:
        resend_now(reward, actor="console:olga@shop.example")
    assert refused.value.code == "nothing_to_send"
    assert smtp.messages == []


def test_certificate_without_a_pin_shows_none(api, campaign, smtp):
    reward = issue(api)
    Participant.objects.filter(pk=reward.recipient_id).update(language="en")
    Certificate.objects.filter(reward=reward).update(pin_encrypted="")

    deliver(reward.pk)

    text, html, _ = parts(smtp.messages[0])
    assert "PIN:" not in text and ">PIN<" not in html
    assert certificate_of(reward).code_value() in text


def test_banked_reward_is_sent_its_bank_certificate(api, campaign, smtp):
    bank = issue(api, customer="c-1")
    small = issue(api, customer="c-2")
    Certificate.objects.filter(reward=small).delete()
    Reward.objects.filter(pk=small.pk).update(banked_into=bank)

    deliver(small.pk)

    text, _, [image] = parts(smtp.messages[0])
    assert certificate_of(bank).code_value() in text
    assert qr_encodes(image.get_content(), certificate_of(bank).code_value())
    small.refresh_from_db()
    assert small.status == "delivered"


def test_mask_email_keeps_the_first_letter_and_the_domain():
    assert mask_email("anna@example.com") == "a***@example.com"
    assert mask_email("@example.com") == "***@example.com"
    assert mask_email("nonsense") == "***"


# --- expiry reminders --------------------------------------------------------------------


def certificates(api, count):
    return [certificate_of(issue(api, customer=f"c-{n}")) for n in range(count)]


def expire_in(certificate, delta):
    Certificate.objects.filter(pk=certificate.pk).update(expires_at=timezone.now() + delta)


def test_reminders_go_once_to_unspent_certificates_expiring_soon(api, campaign, smtp):
    soon, partly_spent, later, spent, cancelled, expired = certificates(api, 6)
    for certificate in (soon, partly_spent, spent, cancelled):
        expire_in(certificate, timedelta(days=3))
    expire_in(later, timedelta(days=30))
    expire_in(expired, timedelta(hours=-1))
    redeem = f"certificates/{partly_spent.code_value()}/redeem"
    assert api.post(redeem, {"amount": "1000.00", "order_id": "A"}).status_code == 201
    redeem = f"certificates/{spent.code_value()}/redeem"
    assert api.post(redeem, {"amount": "1500.00", "order_id": "B"}).status_code == 201
    assert api.post(f"rewards/{cancelled.reward.public_id}/cancel").status_code == 200

    assert send_expiry_reminders() == 2

    texts = [parts(message)[0] for message in smtp.messages]
    everyone = (soon, partly_spent, later, spent, cancelled, expired)
    reminded = sorted(c.code_value() for c in everyone for text in texts if c.code_value() in text)
    assert reminded == sorted([soon.code_value(), partly_spent.code_value()])
    partly = next(text for text in texts if partly_spent.code_value() in text)
    assert "500 ₽" in partly
    assert partly_spent.pin_value() in partly
    assert Delivery.objects.filter(kind="reminder", status="sent").count() == 2
    assert Certificate.objects.filter(reminded_at__isnull=False).count() == 2

    assert send_expiry_reminders() == 0
    assert len(smtp.messages) == 2


def test_reminder_window_follows_the_days_asked(api, campaign, smtp):
    [certificate] = certificates(api, 1)
    expire_in(certificate, timedelta(days=10))

    assert send_expiry_reminders(days=7) == 0
    assert send_expiry_reminders(days=14) == 1

    [message] = smtp.messages
    text, html, [image] = parts(message)
    assert certificate.code_value() in text and certificate.code_value() in html
    assert qr_encodes(image.get_content(), certificate.code_value())
    assert Delivery.objects.get().kind == "reminder"


def test_reminder_is_in_the_holders_language(api, campaign, smtp):
    [certificate] = certificates(api, 1)
    Participant.objects.filter(external_id="u-7").update(language="en")
    Certificate.objects.filter(pk=certificate.pk).update(expires_at=EXPIRES)

    assert send_expiry_reminders(now=EXPIRES - timedelta(days=2)) == 1

    [message] = smtp.messages
    assert message["Subject"] == "Your Shop gift certificate expires on March 15, 2031"
    assert "1,500 ₽" in parts(message)[0]


def test_reminder_that_fails_is_tried_again_by_the_next_sweep(api, campaign, smtp, settings):
    [certificate] = certificates(api, 1)
    expire_in(certificate, timedelta(days=2))
    smtp.stop()

    assert send_expiry_reminders() == 0
    assert Delivery.objects.get().status == "failed"
    certificate.refresh_from_db()
    assert certificate.reminded_at is None

    server = start_server()
    try:
        settings.MAILERS = mailer(server.port)
        assert send_expiry_reminders() == 1
        assert send_expiry_reminders() == 0
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_reminders_skip_holders_without_email_and_quiet_projects(api, campaign, smtp, project):
    no_email, quiet = certificates(api, 2)
    for certificate in (no_email, quiet):
        expire_in(certificate, timedelta(days=2))
    Participant.objects.filter(external_id="u-7").update(email="")

    assert send_expiry_reminders() == 0
    Participant.objects.filter(external_id="u-7").update(email="u-7@example.ru")
    Project.objects.filter(pk=project.pk).update(email_rewards=False)
    assert send_expiry_reminders() == 0

    assert smtp.messages == []
    assert not Delivery.objects.exists()
    assert not Certificate.objects.filter(reminded_at__isnull=False).exists()


def test_a_certificate_already_claimed_by_another_worker_is_not_sent(api, campaign, smtp):
    [certificate] = certificates(api, 1)
    expire_in(certificate, timedelta(days=2))
    Certificate.objects.filter(pk=certificate.pk).update(reminded_at=timezone.now())

    assert send_expiry_reminders() == 0
    assert smtp.messages == []


def test_smtp_fixture_is_a_real_server(smtp: SmtpServer):
    import smtplib

    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=TIMEOUT_SECONDS) as client:
        client.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nhello\r\n")
    [message] = smtp.messages
    assert isinstance(message, email.message.EmailMessage)
    assert message["Subject"] == "hi"


def test_amount_formatting_keeps_cents_when_there_are_some():
    from django.utils import translation

    from sarafan.rewards.delivery import money_display

    with translation.override("ru"):
        assert money_display(Decimal("12.50"), "RUB") == "12,50 ₽"
    with translation.override("en"):
        assert money_display(Decimal("1234.00"), "USD") == "1,234 USD"
