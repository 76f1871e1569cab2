"""The console of reward fulfilment: brands, pools and their CSV upload, external issuers,
waiting rewards and what a manager does to a reward (cancel, resend, retry, manual reward).

Rewards are made by the rewards services as production makes them; the SMTP server and the
certificate provider are real servers the tests start (tests/rewards/smtp.py, provider.py).
"""

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sarafan.campaigns.models import Campaign
from sarafan.participants.models import Participant
from sarafan.rewards import external, pools, services
from sarafan.rewards.issuers import update_issuer
from sarafan.rewards.models import (
    Brand,
    Certificate,
    CertificatePool,
    Delivery,
    Issuer,
    PoolCode,
    Reward,
    RewardEvent,
)
from sarafan.rewards.tasks import send_resend
from tests.factories import run_queued
from tests.rewards.provider import FakeProvider, provider
from tests.rewards.smtp import SmtpServer, smtp

from .data import Chain, make_chain

__all__ = ["provider", "smtp"]  # fixtures

# Two good rows, then one row per reason a row is refused (chain 1 uploaded GIFT-0-0001).
CSV = (
    "code,pin,nominal,expiry\n"
    "NEW-CODE-0001,1234,1000.00,\n"  # line 2
    "NEW-CODE-0002,,1000.00,2099-12-31\n"  # line 3
    "NEW-CODE-0003,,999.00,\n"  # 4: wrong_nominal
    "NEW-CODE-0004,,abc,\n"  # 5: invalid_nominal
    "NEW-CODE-0005,,1000.00,2020-01-01\n"  # 6: expired
    "NEW-CODE-0006,,1000.00,31.12.2099\n"  # 7: invalid_expiry
    "NEW-CODE-0001,,1000.00,\n"  # 8: duplicate_in_file
    "GIFT-0-0001,,1000.00,\n"  # 9: duplicate_code
    "NEW-CODE-0009,1000.00\n"  # 10: malformed_row
)
REJECTED = {
    4: "wrong_nominal",
    5: "invalid_nominal",
    6: "expired",
    7: "invalid_expiry",
    8: "duplicate_in_file",
    9: "duplicate_code",
    10: "malformed_row",
}


def _speaking(client: Client, language: str) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def _url(name: str, *args: Any) -> str:
    return reverse(f"admin:{name}", args=args)


def _html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    # Sizes and amounts are written with non-breaking spaces.
    return str(response.content.decode()).replace("\xa0", " ")


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _cell(html: str, row_text: str, column: str) -> str:
    """The text of a list's cell: the row that contains `row_text`, the column's field."""
    row = next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, re.S) if row_text in r)
    cell = re.search(rf'class="[^"]*field-{column}[^"]*"[^>]*>(.*?)</t[dh]>', row, re.S)
    assert cell is not None, row
    return " ".join(re.sub(r"<[^>]+>", " ", cell.group(1)).split())


def _stock(pool: CertificatePool) -> int:
    return pools.stock(pool)["available"]


# --- pools and the CSV upload -------------------------------------------------------------------


def _preview(client: Client, pool: CertificatePool, data: bytes, name: str = "codes.csv") -> Any:
    upload = SimpleUploadedFile(name, data, content_type="text/csv")
    return client.post(_url("rewards_certificatepool_upload", pool.pk), {"file": upload})


def test_upload_preview_lists_each_rejected_row_and_stores_nothing(
    admin_client: Client, chain: Chain
) -> None:
    stored = PoolCode.objects.count()
    response = _preview(_speaking(admin_client, "en"), chain.pool, CSV.encode())

    html = _html(response)
    assert 'data-stage="preview"' in html
    assert 'data-accepted="2" data-rejected="7"' in html
    found = dict(re.findall(r'data-row="(\d+)" data-error="(\w+)"', html))
    assert {int(line): code for line, code in found.items()} == REJECTED
    assert "The nominal must be the pool&#x27;s denomination, 1,000.00 RUB." in html
    assert "The same code is higher up in the file." in html
    assert "This code was uploaded before." in html
    assert "…0003" in html  # the hint of a rejected code, never more
    assert PoolCode.objects.count() == stored
    # The confirmation carries the same text back; nothing waits on the server.
    assert response.context["confirm"].initial["content"] == CSV
    assert "Confirm upload" in html


def test_confirmed_upload_stores_the_good_rows_and_reports_the_rest(
    admin_client: Client, chain: Chain
) -> None:
    client = _speaking(admin_client, "en")
    url = _url("rewards_certificatepool_upload", chain.pool.pk)
    content = _preview(client, chain.pool, CSV.encode()).context["confirm"].initial["content"]
    before = _stock(chain.pool)

    response = client.post(url, {"confirm": "yes", "content": content})

    html = _html(response)
    assert 'data-stage="report"' in html
    assert 'data-accepted="2" data-rejected="7"' in html
    assert len(re.findall(r"data-row=", html)) == 7
    assert _messages(response) == ["2 codes added to the pool. 7 rows rejected."]
    assert _stock(chain.pool) == before + 2
    batch = response.context["report"]["batch"]
    codes = PoolCode.objects.filter(pool=chain.pool, batch=batch).order_by("id")
    assert [code.code_value() for code in codes] == ["NEW-CODE-0001", "NEW-CODE-0002"]
    assert [code.pin_value() for code in codes] == ["1234", ""]
    assert f"?pool={chain.pool.pk}&amp;batch={batch}" in html

    # The batch is on the pool's page, and its codes in the codes' list by their hint only.
    page = _html(client.get(_url("rewards_certificatepool_change", chain.pool.pk)))
    assert f'data-batch="{batch}"' in page
    listing = _html(client.get(_url("rewards_poolcode_changelist"), {"q": batch}))
    assert "…0001" in listing and "…0002" in listing
    assert "NEW-CODE-0001" not in listing
    # A whole code finds its row.
    found = _html(client.get(_url("rewards_poolcode_changelist"), {"q": "NEW-CODE-0002"}))
    assert "…0002" in found and "…0001" not in found

    # The same confirmation again stores nothing twice.
    again = client.post(url, {"confirm": "yes", "content": content})
    assert 'data-accepted="0" data-rejected="9"' in _html(again)
    assert _stock(chain.pool) == before + 2


def test_pasted_csv_is_previewed_like_a_file(admin_client: Client, chain: Chain) -> None:
    url = _url("rewards_certificatepool_upload", chain.pool.pk)
    response = admin_client.post(url, {"text": "code,pin,nominal,expiry\r\nPASTED-0001,,1000,\r\n"})
    assert 'data-accepted="1" data-rejected="0"' in _html(response)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("код,пин,номинал\nКОД-1,1,1000,\n".encode("cp1251"), "The file is not UTF-8 text"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "The file is not a CSV text file."),
        (b"code;pin;nominal;expiry\nX-1;;1000;\n", "separated by semicolons"),
        (b"number,amount\n1,2\n", "The first row must be the header code,pin,nominal,expiry."),
        (b"", "Choose a CSV file or paste its text."),
    ],
)
def test_a_file_that_is_not_a_csv_of_codes_is_refused_readably(
    admin_client: Client, chain: Chain, data: bytes, error: str
) -> None:
    stored = PoolCode.objects.count()
    response = _preview(_speaking(admin_client, "en"), chain.pool, data)
    html = _html(response)
    assert 'data-stage="form"' in html
    assert error in html
    assert PoolCode.objects.count() == stored


def _rows(size: int) -> bytes:
    rows = (f"BIG-{i:09d},,1000.00,\n" for i in range(size // 24 + 1))
    return ("code,pin,nominal,expiry\n" + "".join(rows)).encode()


def test_an_upload_larger_than_a_form_can_post_back_is_refused(
    admin_client: Client, chain: Chain
) -> None:
    # The confirmation posts the text back, so the request body limit bounds an upload.
    response = _preview(_speaking(admin_client, "en"), chain.pool, _rows(2_100_000))
    html = _html(response)
    assert 'data-stage="form"' in html
    assert re.search(r"The CSV is 2\.0 MB; at most 2\.0 MB can be uploaded at once", html)
    assert (
        not PoolCode.objects.filter(pool=chain.pool, batch__isnull=False)
        .exclude(batch=chain.batch)
        .exists()
    )


def test_no_upload_is_larger_than_5_mb_whatever_the_body_limit(
    admin_client: Client, chain: Chain, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024
    response = _preview(_speaking(admin_client, "en"), chain.pool, _rows(5_300_000))
    assert "at most 5.0 MB can be uploaded at once" in _html(response)


def test_the_pools_list_shows_the_stock_of_each_pool(admin_client: Client, chain: Chain) -> None:
    # Chain 1's pool: three codes, one handed out; now one of the two left expires.
    left = PoolCode.objects.filter(pool=chain.pool, status="available").order_by("id")
    PoolCode.objects.filter(pk=left[0].pk).update(expires_at=timezone.now())
    full = pools.create_pool(brand=chain.brand, denomination=Decimal("500.00"))
    rows = "".join(f"FULL-{i:06d},,500.00,\n" for i in range(60))
    pools.upload_codes(pool=full, csv_text="code,pin,nominal,expiry\n" + rows, dry_run=False)

    html = _html(_speaking(admin_client, "en").get(_url("rewards_certificatepool_changelist")))

    assert _cell(html, chain.pool.public_id, "available") == "1 low stock"
    assert _cell(html, chain.pool.public_id, "allocated") == "1"
    assert _cell(html, chain.pool.public_id, "expired") == "1"
    assert _cell(html, chain.pool.public_id, "nominal") == "1,000.00 RUB"
    assert _cell(html, full.public_id, "available") == "60"
    assert _cell(html, full.public_id, "allocated") == "0"

    page = _html(admin_client.get(_url("rewards_certificatepool_change", chain.pool.pk)))
    assert re.search(r'data-stock="available">\s*<[^>]+>\s*1\s*<', page)
    assert "Upload codes" in page


def test_a_pool_is_made_by_create_pool_for_a_brand_of_the_current_mode(
    admin_client: Client, chain: Chain
) -> None:
    live = make_chain(2, project=chain.project, livemode=True)
    client = _speaking(admin_client, "ru")
    add = _url("rewards_certificatepool_add") + f"?mode=test&project={chain.project.pk}"
    page = _html(client.get(add))
    assert chain.brand.name in page
    assert live.brand.name not in page

    refused = client.post(
        add, {"brand": live.brand.pk, "denomination": "1500,00", "low_stock_threshold": "10"}
    )
    assert refused.status_code == 200
    response = client.post(
        add, {"brand": chain.brand.pk, "denomination": "1500,00", "low_stock_threshold": "10"}
    )
    assert response.status_code == 302, response.content.decode()
    pool = CertificatePool.objects.get(denomination=Decimal("1500.00"))
    assert (pool.brand, pool.livemode, pool.currency) == (chain.brand, False, "RUB")
    # Pools are not edited: their page shows them.
    assert 'name="_save"' not in _html(client.get(_url("rewards_certificatepool_change", pool.pk)))


def test_a_brand_is_made_by_create_brand_in_the_current_project_and_mode(
    admin_client: Client, chain: Chain
) -> None:
    client = _speaking(admin_client, "en")
    add = _url("rewards_brand_add") + f"?mode=live&project={chain.project.pk}"
    assert 'data-mode="live"' in _html(client.get(add))

    bad = client.post(add, {"name": "Перекрёсток", "logo_url": "ftp://x.example/l.png"})
    assert "Enter an http:// or https:// address of the logo." in _html(bad)
    bad = client.post(add, {"name": "Перекрёсток", "currency": "äöü", "terms": "Везде"})
    assert "Enter a three-letter currency code such as RUB." in _html(bad)
    response = client.post(add, {"name": "Перекрёсток", "currency": "rub", "terms": "Везде"})
    assert response.status_code == 302, response.content.decode()
    brand = Brand.objects.get(name="Перекрёсток")
    assert (brand.project, brand.livemode, brand.currency) == (chain.project, True, "RUB")

    change = _url("rewards_brand_change", brand.pk)
    response = client.post(change, {"name": "Перекрёсток+", "currency": "EUR", "terms": "Везде"})
    assert response.status_code == 302
    brand.refresh_from_db()
    assert (brand.name, brand.currency) == ("Перекрёсток+", "RUB")
    assert (
        _cell(_html(client.get(_url("rewards_brand_changelist"))), "Лента 1", "pool_count") == "1"
    )


# --- issuers --------------------------------------------------------------------------------


def _issuer_form(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Подарочный шлюз",
        "url": "https://gifts.example/v1",
        "token": "",
        "brand": "",
        "timeout_seconds": "5",
        "max_attempts": "3",
        **fields,
    }


def test_issuer_token_is_write_only_and_kept_when_left_empty(
    admin_client: Client, chain: Chain
) -> None:
    client = _speaking(admin_client, "en")
    add = _url("rewards_issuer_add") + f"?mode=test&project={chain.project.pk}"
    response = client.post(add, _issuer_form(token="s3cret-token", brand=chain.brand.pk))
    assert response.status_code == 302, response.content.decode()
    issuer = Issuer.objects.get(name="Подарочный шлюз")
    assert (issuer.project, issuer.livemode, issuer.brand) == (chain.project, False, chain.brand)
    assert issuer.token_value() == "s3cret-token"
    assert (issuer.timeout_seconds, issuer.max_attempts) == (5.0, 3)

    change = _url("rewards_issuer_change", issuer.pk)
    page = _html(client.get(change))
    assert "s3cret-token" not in page
    assert issuer.token_encrypted not in page
    assert "closed: calls go through" in page

    response = client.post(change, _issuer_form(name="Шлюз 2", brand=chain.brand.pk))
    assert response.status_code == 302, response.content.decode()
    issuer.refresh_from_db()
    assert (issuer.name, issuer.token_value()) == ("Шлюз 2", "s3cret-token")

    client.post(change, _issuer_form(name="Шлюз 2", token="new-token"))
    issuer.refresh_from_db()
    assert (issuer.token_value(), issuer.brand) == ("new-token", None)

    client.post(change, _issuer_form(name="Шлюз 2", remove_token="on"))
    issuer.refresh_from_db()
    assert issuer.token_encrypted == ""


def test_issuer_settings_the_service_refuses_are_shown_beside_their_field(
    admin_client: Client, chain: Chain
) -> None:
    live = make_chain(2, project=chain.project, livemode=True)
    client = _speaking(admin_client, "en")
    add = _url("rewards_issuer_add") + f"?mode=test&project={chain.project.pk}"
    html = _html(client.post(add, _issuer_form(url="https://user:pw@gifts.example/v1")))
    assert "without a user name, password, query or fragment" in html
    html = _html(client.post(add, _issuer_form(token="two words")))
    assert "printable ASCII characters, without spaces" in html
    html = _html(client.post(add, _issuer_form(timeout_seconds="0.1")))
    assert "Ensure this value is greater than or equal to 0.5." in html
    html = _html(client.post(add, _issuer_form(brand=live.brand.pk)))
    assert "Select a valid choice." in html
    assert not Issuer.objects.filter(name="Подарочный шлюз").exists()


def test_issuers_list_shows_the_circuit(admin_client: Client, chain: Chain) -> None:
    until = timezone.now() + timedelta(minutes=5)
    Issuer.objects.filter(pk=chain.issuer.pk).update(
        consecutive_failures=6, circuit_open_until=until, last_error="HTTP 503."
    )
    html = _html(_speaking(admin_client, "en").get(_url("rewards_issuer_changelist")))
    assert 'data-circuit="open"' in html
    assert _cell(html, chain.issuer.name, "consecutive_failures") == "6"
    assert _cell(html, chain.issuer.name, "error") == "HTTP 503."
    assert f"token-{chain.n}" not in html


# --- rewards: waiting, filters, actions ------------------------------------------------------


def _pool_campaign(chain: Chain, denomination: str = "700.00") -> CertificatePool:
    """The chain's campaign pays from a new, empty pool of the chain's brand."""
    pool = pools.create_pool(brand=chain.brand, denomination=Decimal(denomination))
    Campaign.objects.filter(pk=chain.campaign.pk).update(
        reward_source={"type": "pool", "pools": [pool.public_id]}
    )
    chain.campaign.refresh_from_db()
    return pool


def _manual(chain: Chain, amount: str = "700.00", who: Participant | None = None) -> Reward:
    return services.create_manual_reward(
        project=chain.project,
        livemode=chain.campaign.livemode,
        recipient=who or chain.referee,
        amount=Decimal(amount),
        currency="RUB",
        campaign=chain.campaign,
        actor="test",
        note="за отзыв",
    )


def _fill(pool: CertificatePool, *codes: str) -> None:
    rows = "".join(f"{code},0000,{pool.denomination},\n" for code in codes)
    pools.upload_codes(pool=pool, csv_text="code,pin,nominal,expiry\n" + rows, dry_run=False)


def _actions(html: str) -> set[str]:
    return set(re.findall(r'data-object-action="(\w+)"', html))


def test_rewards_are_filtered_by_what_they_wait_for_and_by_brand(
    admin_client: Client, chain: Chain
) -> None:
    other = make_chain(2, project=chain.project)
    _pool_campaign(chain)
    waiting = _manual(chain)
    assert (waiting.status, waiting.waiting) == ("approved", "pool_empty")
    client = _speaking(admin_client, "en")
    url = _url("rewards_reward_changelist")

    html = _html(client.get(url, {"waiting": "pool_empty"}))
    assert waiting.public_id in html
    assert chain.reward.public_id not in html
    assert _cell(html, waiting.public_id, "waiting_for") == "codes in the pool"
    assert _cell(html, waiting.public_id, "brand") == chain.brand.name
    assert chain.reward.public_id not in _html(client.get(url, {"waiting": "issuer"}))

    html = _html(client.get(url, {"brand__id__exact": chain.brand.pk}))
    assert waiting.public_id in html and chain.reward.public_id in html
    assert other.reward.public_id not in html
    html = _html(client.get(url, {"q": other.referrer.email}))
    assert other.reward.public_id in html and chain.reward.public_id not in html


def test_retry_now_issues_a_reward_that_waited_for_codes(
    admin_client: Client, chain: Chain
) -> None:
    pool = _pool_campaign(chain)
    waiting = _manual(chain)
    client = _speaking(admin_client, "en")
    page = _url("rewards_reward_change", waiting.pk)
    html = _html(client.get(page))
    assert _actions(html) == {"retry", "cancel"}
    assert "codes in the pool" in html

    response = client.post(_url("rewards_reward_retry", waiting.pk), follow=True)
    assert _messages(response) == ["Not issued yet: the reward waits for codes in the pool."]

    _fill(pool, "RETRY-000001")
    response = client.post(_url("rewards_reward_retry", waiting.pk), follow=True)
    assert _messages(response) == [f"Reward {waiting.public_id} issued."]
    waiting.refresh_from_db()
    assert (waiting.status, waiting.waiting) == ("issued", "")
    certificate = Certificate.objects.get(reward=waiting)
    assert (certificate.kind, certificate.code_value()) == ("pool", "RETRY-000001")
    assert RewardEvent.objects.filter(reward=waiting, actor="admin").exists()

    # Issued: retry no longer applies, and a stale button only gets a message.
    assert _actions(_html(client.get(page))) == {"resend", "cancel"}
    response = client.post(_url("rewards_reward_retry", waiting.pk), follow=True)
    assert _messages(response) == [
        f"{waiting.public_id}: This reward is not waiting to be issued any more."
    ]
    assert client.get(_url("rewards_reward_retry", waiting.pk)).status_code == 405


def test_retry_now_tries_a_failed_issuer_again(
    admin_client: Client, chain: Chain, provider: FakeProvider
) -> None:
    update_issuer(chain.issuer, url=provider.url, token=provider.token)
    Campaign.objects.filter(pk=chain.campaign.pk).update(
        reward_source={"type": "issuer", "issuer": chain.issuer.public_id}
    )
    chain.campaign.refresh_from_db()
    reward = _manual(chain, "500.00")
    Reward.objects.filter(pk=reward.pk).update(waiting="issuer_failed", last_error="HTTP 503.")
    client = _speaking(admin_client, "en")
    html = _html(client.get(_url("rewards_reward_changelist"), {"waiting": "issuer_failed"}))
    assert reward.public_id in html

    response = client.post(_url("rewards_reward_retry", reward.pk), follow=True)

    # The call is the worker's: the page answers at once.
    assert _messages(response) == ["The reward is being issued."]
    assert provider.requests == []
    assert external.attempt_issuer(reward.pk) == "issued"
    certificate = Certificate.objects.get(reward=reward)
    assert certificate.kind == "issuer"
    assert certificate.external_id == "cert_1"


def test_a_manager_chooses_the_brand_for_the_recipient(admin_client: Client, chain: Chain) -> None:
    lenta = _pool_campaign(chain)
    other = pools.create_brand(project=chain.project, livemode=False, name="Перекрёсток")
    crossroad = pools.create_pool(brand=other, denomination=Decimal("700.00"))
    _fill(lenta, "LENTA-000001")
    _fill(crossroad, "CROSS-000001")
    Campaign.objects.filter(pk=chain.campaign.pk).update(
        reward_source={
            "type": "pool",
            "pools": [lenta.public_id, crossroad.public_id],
            "choice": {"days": 7},
        }
    )
    chain.campaign.refresh_from_db()
    waiting = _manual(chain)
    assert (waiting.status, waiting.waiting) == ("approved", "choice")
    client = _speaking(admin_client, "en")
    html = _html(client.get(_url("rewards_reward_change", waiting.pk)))
    assert _actions(html) == {"brand", "cancel"}
    assert "the recipient&#x27;s choice of brand" in html

    response = client.post(
        _url("rewards_reward_brand", waiting.pk), {"decision": other.pk}, follow=True
    )

    assert _messages(response) == [
        "Brand Перекрёсток chosen.",
        f"Reward {waiting.public_id} issued.",
    ]
    certificate = Certificate.objects.get(reward=waiting)
    assert (certificate.catalog_brand, certificate.code_value()) == (other, "CROSS-000001")
    # A brand the campaign does not offer is refused.
    refused = client.post(
        _url("rewards_reward_brand", waiting.pk), {"decision": chain.brand.pk}, follow=True
    )
    assert _messages(refused) == [
        f"{waiting.public_id}: The brand of this reward can no longer change."
    ]


def test_cancel_shows_the_clawback_and_cancels_after_the_confirmation(
    admin_client: Client, chain: Chain
) -> None:
    client = _speaking(admin_client, "en")
    page = _url("rewards_reward_change", chain.reward.pk)
    assert "cancel" in _actions(_html(client.get(page)))
    url = _url("rewards_reward_cancel", chain.reward.pk)

    confirm = client.post(url, {"reason": "возврат заказа"})
    html = _html(confirm)
    assert "Taken back: 300.00 RUB" in html
    assert 'value="возврат заказа"' in html
    # The confirmation only showed it.
    assert Reward.objects.get(pk=chain.reward.pk).status == "issued"
    assert Certificate.objects.get(pk=chain.certificate.pk).balance == Decimal("300.00")

    response = client.post(
        url, {"confirm": "yes", "reason": "возврат заказа", "next": page}, follow=True
    )
    assert _messages(response) == [
        f"Reward {chain.reward.public_id} cancelled; 300.00 RUB taken back."
    ]
    assert Reward.objects.get(pk=chain.reward.pk).status == "cancelled"
    certificate = Certificate.objects.get(pk=chain.certificate.pk)
    assert (certificate.status, certificate.balance) == ("cancelled", Decimal("0.00"))
    event = RewardEvent.objects.filter(reward=chain.reward).latest("id")
    assert (event.to_status, event.actor, event.note) == ("cancelled", "admin", "возврат заказа")
    # Nothing left to do to a cancelled reward.
    assert _actions(_html(client.get(page))) == set()
    again = client.post(url, {"confirm": "yes"}, follow=True)
    assert _messages(again) == [
        f"{chain.reward.public_id}: The reward's status no longer allows this."
    ]
    assert client.get(url).status_code == 405


def test_resend_refuses_a_recipient_without_an_e_mail(admin_client: Client, chain: Chain) -> None:
    Participant.objects.filter(pk=chain.referrer.pk).update(email="")
    response = _speaking(admin_client, "en").post(
        _url("rewards_reward_resend", chain.reward.pk), follow=True
    )
    assert _messages(response) == [
        f"{chain.reward.public_id}: The recipient has no e-mail address."
    ]
    assert Delivery.objects.filter(reward=chain.reward).count() == 1  # the chain's own


def test_resend_e_mails_the_certificate_again(
    admin_client: Client, chain: Chain, smtp: SmtpServer, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = _speaking(admin_client, "en").post(
            _url("rewards_reward_resend", chain.reward.pk), follow=True
        )
    assert _messages(response) == [
        f"The certificate will be e-mailed again to {chain.referrer.email} in a moment."
    ]
    assert smtp.messages == []  # the worker sends it, not the console's request
    # Being sent is not an error: a plain label, not a red one.
    html = _speaking(admin_client, "en").get(_url("rewards_delivery_changelist"))
    [sending] = re.findall(r"<span class=\"([^\"]*)\">\s*sending\s*</span>", html.content.decode())
    assert "bg-red" not in sending, html.content.decode()[-3000:]
    assert run_queued(send_resend) == ["sent"]
    [message] = smtp.messages
    assert message["To"].addresses[0].addr_spec == chain.referrer.email
    sent = Delivery.objects.filter(reward=chain.reward).latest("id")
    assert (sent.status, sent.actor) == ("sent", "admin")
    page = _html(admin_client.get(_url("rewards_reward_change", chain.reward.pk)))
    assert page.count(chain.referrer.email) >= 2  # both e-mails in the reward's deliveries


def test_resend_reports_an_smtp_failure(
    admin_client: Client, chain: Chain, smtp: SmtpServer, django_capture_on_commit_callbacks: Any
) -> None:
    smtp.stop()
    page = _url("rewards_reward_change", chain.reward.pk)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(_url("rewards_reward_resend", chain.reward.pk))
    assert run_queued(send_resend) == ["failed"]
    assert Delivery.objects.filter(reward=chain.reward).latest("id").status == "failed"
    # The reward's page lists the failed attempt with its error.
    assert "failed" in _html(_speaking(admin_client, "en").get(page))


# --- manual rewards ---------------------------------------------------------------------------


def _manual_form(**fields: Any) -> dict[str, Any]:
    return {
        "recipient": "u-1",
        "amount": "250.00",
        "currency": "RUB",
        "campaign": "",
        "note": "компенсация за задержку",
        **fields,
    }


def test_manual_reward_is_given_to_a_participant_of_the_current_mode(
    admin_client: Client, chain: Chain
) -> None:
    client = _speaking(admin_client, "ru")
    changelist = _html(client.get(_url("rewards_reward_changelist")))
    url = _url("rewards_reward_manual")
    assert url in changelist
    here = f"{url}?mode=test&project={chain.project.pk}"

    response = client.post(
        here, _manual_form(amount="250,50", campaign=chain.campaign.pk, currency="rub")
    )

    reward = Reward.objects.get(trigger="manual")
    assert response.status_code == 302
    assert response["Location"] == _url("rewards_reward_change", reward.pk)
    assert (reward.recipient, reward.amount, reward.currency) == (
        chain.referrer,
        Decimal("250.50"),
        "RUB",
    )
    assert (reward.campaign, reward.livemode, reward.status) == (chain.campaign, False, "issued")
    assert RewardEvent.objects.filter(reward=reward, actor="admin").exists()
    chain.campaign.refresh_from_db()
    assert chain.campaign.spent == Decimal("250.50")
    [message] = _messages(client.get(response["Location"]))
    assert reward.public_id in message


def test_manual_reward_form_says_what_is_wrong(admin_client: Client, chain: Chain) -> None:
    live = make_chain(2, project=chain.project, livemode=True)
    elsewhere = make_chain(3)
    client = _speaking(admin_client, "en")
    here = f"{_url('rewards_reward_manual')}?mode=test&project={chain.project.pk}"
    page = _html(client.get(here))
    assert chain.campaign.name in page
    assert live.campaign.name not in page and elsewhere.campaign.name not in page

    html = _html(client.post(here, _manual_form(recipient="u-2")))  # live mode's participant
    assert "No participant “u-2” in Магазин 1, Test mode." in html
    html = _html(client.post(here, _manual_form(amount="0")))
    assert "Ensure this value is greater than or equal to 0.01." in html
    for lookalike in ("２５０", "١٠٠", "2_50"):
        html = _html(client.post(here, _manual_form(amount=lookalike)))
        assert "Enter a number." in html
    for currency in ("RU1", "ÄÖÜ", "ΡΥΒ"):
        html = _html(client.post(here, _manual_form(currency=currency)))
        assert "Enter a three-letter currency code such as RUB." in html
    html = _html(client.post(here, _manual_form(campaign=live.campaign.pk)))
    assert "Select a valid choice." in html
    html = _html(client.post(here, _manual_form(note="")))
    assert "This field is required." in html
    Campaign.objects.filter(pk=chain.campaign.pk).update(budget=Decimal("100.00"))
    html = _html(client.post(here, _manual_form(campaign=chain.campaign.pk)))
    assert "The campaign&#x27;s budget does not cover this reward." in html
    assert not Reward.objects.filter(trigger="manual").exists()


# --- certificates and scoping ------------------------------------------------------------------


def test_a_brand_certificate_shows_its_code_only_on_its_own_page(
    admin_client: Client, chain: Chain
) -> None:
    pool = _pool_campaign(chain, "1000.00")
    _fill(pool, "BRAND-CODE-7781")
    reward = _manual(chain, "1000.00")
    certificate = Certificate.objects.get(reward=reward)
    assert certificate.kind == "pool" and certificate.code_hash is None
    client = _speaking(admin_client, "en")

    listing = _html(client.get(_url("rewards_certificate_changelist")))
    assert "…7781" in listing
    assert "BRAND-CODE-7781" not in listing
    assert chain.certificate.code_value() in listing  # Sarafan's own code, spent through the API
    assert _cell(listing, "…7781", "kind") == "from a pool"

    page = _html(client.get(_url("rewards_certificate_change", certificate.pk)))
    assert "BRAND-CODE-7781" in page
    assert "0000" in page  # its PIN
    reward_page = _html(client.get(_url("rewards_reward_change", reward.pk)))
    assert "…7781" in reward_page and "BRAND-CODE-7781" not in reward_page


def test_forms_offer_only_the_current_project_and_mode(admin_client: Client, chain: Chain) -> None:
    live = make_chain(2, project=chain.project, livemode=True)
    elsewhere = make_chain(3)
    client = _speaking(admin_client, "en")
    for name in ("rewards_certificatepool_add", "rewards_issuer_add"):
        html = _html(client.get(_url(name), {"mode": "live", "project": chain.project.pk}))
        assert live.brand.name in html
        assert chain.brand.name not in html and elsewhere.brand.name not in html
    # The mode chosen is remembered, as on the other console pages.
    html = _html(client.get(_url("rewards_reward_manual")))
    assert live.campaign.name in html and chain.campaign.name not in html
    assert 'data-mode="live"' in html


@pytest.mark.parametrize("language", ["ru", "en"])
def test_fulfilment_pages_render_in_both_languages(
    admin_client: Client, chain: Chain, language: str
) -> None:
    client = _speaking(admin_client, language)
    pages = [
        _url("rewards_certificatepool_upload", chain.pool.pk),
        _url("rewards_reward_manual"),
        _url("rewards_brand_add"),
        _url("rewards_certificatepool_add"),
        _url("rewards_issuer_add"),
        _url("rewards_issuer_change", chain.issuer.pk),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Content-Language"] == language
    response = client.post(_url("rewards_reward_cancel", chain.reward.pk))
    assert response.status_code == 200
    assert response.headers["Content-Language"] == language
    sidebar = _html(client.get(reverse("admin:index")))
    for label in ("rewards_brand", "rewards_certificatepool", "rewards_issuer", "rewards_delivery"):
        assert _url(f"{label}_changelist") in sidebar


def test_rewards_actions_need_the_permission_to_change_rewards(
    client: Client, chain: Chain
) -> None:
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_reward", "view_certificatepool"], content_type__app_label="rewards"
        )
    )
    client.force_login(viewer)
    page = _html(client.get(_url("rewards_reward_change", chain.reward.pk)))
    assert _actions(page) == set()
    assert _url("rewards_reward_manual") not in _html(client.get(_url("rewards_reward_changelist")))
    assert client.post(_url("rewards_reward_cancel", chain.reward.pk)).status_code == 403
    assert client.post(_url("rewards_reward_resend", chain.reward.pk)).status_code == 403
    assert client.get(_url("rewards_reward_manual")).status_code == 403
    upload = _url("rewards_certificatepool_upload", chain.pool.pk)
    assert client.get(upload).status_code == 403
    pool_page = _html(client.get(_url("rewards_certificatepool_change", chain.pool.pk)))
    assert upload not in pool_page
