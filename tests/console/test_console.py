"""What the console lets a marketer do, and what it must never let anyone do to money."""

from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sarafan.campaigns.models import Campaign, RewardRule
from sarafan.participants.models import Participant
from sarafan.rewards.models import Certificate, Reward

from .data import Chain, make_chain

READ_ONLY = [
    "links.link",
    "links.click",
    "tracking.event",
    "tracking.order",
    "referrals.referral",
    "rewards.reward",
    "rewards.certificate",
    "rewards.redemption",
]


def _url(label: str, view: str, *args: Any) -> str:
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_{view}", args=args)


def _speaking(client: Client, language: str) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def _obj(chain: Chain, label: str) -> Any:
    return {
        "links.link": chain.link,
        "links.click": chain.click,
        "tracking.event": chain.event,
        "tracking.order": chain.order,
        "referrals.referral": chain.referral,
        "rewards.reward": chain.reward,
        "rewards.certificate": chain.certificate,
        "rewards.redemption": chain.redemption,
    }[label]


def test_dashboard_shows_the_figures_of_each_mode(admin_client: Client) -> None:
    make_chain(1)
    live = make_chain(2, livemode=True)
    make_chain(3, project=live.project, livemode=True, status="cancelled")

    html = _speaking(admin_client, "en").get(reverse("admin:index")).content.decode()

    test_part, live_part = html.split('data-mode="test"')[1].split('data-mode="live"')
    assert "Test mode" in test_part
    assert "Live mode" in live_part
    # Test: 2 participants, 500 in rewards. Live: 4 participants, the cancelled reward not counted.
    assert ">2<" in "".join(test_part.split())
    assert "500.00 RUB" in test_part
    assert ">4<" in "".join(live_part.split())
    assert "500.00 RUB" in live_part
    assert "1,000.00" not in live_part

    html = _speaking(admin_client, "ru").get(reverse("admin:index")).content.decode()
    assert "Тестовый режим" in html
    assert "500,00 RUB" in html


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("ru", ["Программы", "Трекинг", "Вознаграждения", "Настройки", "Кампании", "Сертификаты"]),
        ("en", ["Programs", "Tracking", "Rewards", "Settings", "Campaigns", "Certificates"]),
    ],
)
def test_sidebar_speaks_the_chosen_language(
    admin_client: Client, language: str, words: list[str]
) -> None:
    html = _speaking(admin_client, language).get(reverse("admin:index")).content.decode()
    for word in words:
        assert word in html


def test_russian_is_the_default_language(admin_client: Client) -> None:
    response = admin_client.get(reverse("admin:index"))
    assert response.headers["Content-Language"] == "ru"
    assert "Программы" in response.content.decode()


def test_language_switcher_remembers_the_choice(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("set_language"), {"language": "en", "next": reverse("admin:index")}
    )
    assert response.status_code == 302
    assert "Programs" in admin_client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize("label", READ_ONLY)
def test_rows_made_by_the_api_cannot_be_added_changed_or_deleted(
    admin_client: Client, chain: Chain, label: str
) -> None:
    obj = _obj(chain, label)
    assert admin_client.get(_url(label, "add")).status_code == 403
    assert admin_client.get(_url(label, "delete", obj.pk)).status_code == 403
    assert (
        admin_client.post(_url(label, "change", obj.pk), {"status": "redeemed"}).status_code == 403
    )

    page = admin_client.get(_url(label, "change", obj.pk)).content.decode()
    assert 'name="_save"' not in page
    changelist = admin_client.get(_url(label, "changelist")).content.decode()
    assert "delete_selected" not in changelist


def test_money_state_is_unchanged_after_attempted_edits(admin_client: Client, chain: Chain) -> None:
    admin_client.post(
        _url("rewards.certificate", "change", chain.certificate.pk), {"balance": "100000.00"}
    )
    admin_client.post(_url("rewards.reward", "change", chain.reward.pk), {"amount": "100000.00"})
    assert Certificate.objects.get(pk=chain.certificate.pk).balance == Decimal("300.00")
    assert Reward.objects.get(pk=chain.reward.pk).amount == Decimal("500.00")


def test_certificate_pin_is_shown_on_its_page_but_not_in_the_list(
    admin_client: Client, chain: Chain
) -> None:
    pin = chain.certificate.pin_value()
    listing = admin_client.get(_url("rewards.certificate", "changelist")).content.decode()
    assert chain.certificate.code_value() in listing
    assert pin not in listing
    page = admin_client.get(_url("rewards.certificate", "change", chain.certificate.pk))
    assert pin in page.content.decode()
    assert "300.00" in page.content.decode() or "300,00" in page.content.decode()


def test_project_page_lists_key_prefixes_and_never_their_hashes(
    admin_client: Client, chain: Chain
) -> None:
    page = admin_client.get(_url("projects.project", "change", chain.project.pk)).content.decode()
    keys = list(chain.project.api_keys.all())
    assert len(keys) == 4
    for key in keys:
        assert key.prefix in page
        assert key.key_hash not in page
    assert admin_client.get(_url("projects.project", "add")).status_code == 403
    assert admin_client.get(_url("projects.project", "delete", chain.project.pk)).status_code == 403


def _campaign_form(project_pk: int, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "project": project_pk,
        "name": "Весна",
        "status": "active",
        "landing_url": "https://shop.example/spring",
        "allowed_redirect_hosts": "promo.shop.example",
        "attribution_window_days": "30",
        "new_customers_only": "on",
        "currency": "RUB",
        "budget": "100000.00",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-recipient": "referrer",
        "rules-0-trigger": "first_order",
        "rules-0-kind": "fixed",
        "rules-0-amount": "700.00",
        "rules-0-hold_days": "14",
        "rules-0-tiers": "[]",
        "_save": "Save",
    }
    data.update(fields)
    return data


def test_campaign_made_in_the_console_goes_through_the_campaign_service(
    admin_client: Client, chain: Chain
) -> None:
    response = admin_client.post(
        _url("campaigns.campaign", "add"), _campaign_form(chain.project.pk)
    )
    assert response.status_code == 302, response.content.decode()

    campaign = Campaign.objects.get(name="Весна")
    # The service puts the landing page's host first among the allowed redirect hosts.
    assert campaign.allowed_redirect_hosts == ["shop.example", "promo.shop.example"]
    assert campaign.budget == Decimal("100000.00")
    rule = RewardRule.objects.get(campaign=campaign)
    assert (rule.kind, rule.amount, rule.hold_days) == ("fixed", Decimal("700.00"), 14)
    assert response["Location"] == _url("campaigns.campaign", "changelist")
    assert LogEntry.objects.filter(object_id=str(campaign.pk)).exists()


def test_console_refuses_a_fixed_rule_without_an_amount(admin_client: Client, chain: Chain) -> None:
    form = _campaign_form(chain.project.pk, **{"rules-0-amount": ""})
    response = _speaking(admin_client, "en").post(_url("campaigns.campaign", "add"), form)
    assert response.status_code == 200
    assert "A fixed reward needs &#x27;amount&#x27;." in response.content.decode()
    assert not Campaign.objects.filter(name="Весна").exists()


def test_editing_a_campaign_replaces_its_rules_and_keeps_its_counters(
    admin_client: Client, chain: Chain
) -> None:
    campaign = chain.campaign
    Campaign.objects.filter(pk=campaign.pk).update(spent=Decimal("500.00"), rewards_count=1)
    rule = campaign.rules.get()
    form = _campaign_form(
        chain.project.pk,
        name="Приведи друга — осень",
        spent="0",
        rewards_count="0",
        **{
            "rules-INITIAL_FORMS": "1",
            "rules-0-id": rule.pk,
            "rules-0-campaign": campaign.pk,
            "rules-0-kind": "percent",
            "rules-0-amount": "",
            "rules-0-percent": "10",
            "rules-0-max_amount": "1000.00",
        },
    )
    response = admin_client.post(_url("campaigns.campaign", "change", campaign.pk), form)
    assert response.status_code == 302, response.content.decode()

    campaign.refresh_from_db()
    assert campaign.name == "Приведи друга — осень"
    assert (campaign.spent, campaign.rewards_count) == (Decimal("500.00"), 1)
    new_rule = campaign.rules.get()
    assert (new_rule.kind, new_rule.percent, new_rule.max_amount) == (
        "percent",
        Decimal("10.000"),
        Decimal("1000.00"),
    )


def test_an_ended_campaign_cannot_be_made_active_again(admin_client: Client, chain: Chain) -> None:
    Campaign.objects.filter(pk=chain.campaign.pk).update(status="ended")
    rule = chain.campaign.rules.get()
    form = _campaign_form(
        chain.project.pk,
        status="active",
        **{
            "rules-INITIAL_FORMS": "1",
            "rules-0-id": rule.pk,
            "rules-0-campaign": chain.campaign.pk,
        },
    )
    response = _speaking(admin_client, "en").post(
        _url("campaigns.campaign", "change", chain.campaign.pk), form
    )
    assert response.status_code == 200
    assert "cannot go from" in response.content.decode()
    assert Campaign.objects.get(pk=chain.campaign.pk).status == "ended"


def test_pause_and_resume_actions_follow_the_status_transitions(
    admin_client: Client, chain: Chain
) -> None:
    ended = make_chain(2, project=chain.project).campaign
    Campaign.objects.filter(pk=ended.pk).update(status="ended")
    url = _url("campaigns.campaign", "changelist")

    admin_client.post(url, {"action": "pause", "_selected_action": [chain.campaign.pk, ended.pk]})
    assert Campaign.objects.get(pk=chain.campaign.pk).status == "paused"
    assert Campaign.objects.get(pk=ended.pk).status == "ended"

    admin_client.post(url, {"action": "resume", "_selected_action": [chain.campaign.pk]})
    assert Campaign.objects.get(pk=chain.campaign.pk).status == "active"


def test_only_a_draft_campaign_can_be_deleted(admin_client: Client, chain: Chain) -> None:
    assert (
        admin_client.get(_url("campaigns.campaign", "delete", chain.campaign.pk)).status_code == 403
    )
    Campaign.objects.filter(pk=chain.campaign.pk).update(status="draft")
    assert (
        admin_client.get(_url("campaigns.campaign", "delete", chain.campaign.pk)).status_code == 200
    )


def _participant_form(participant: Participant, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": participant.name,
        "email": participant.email,
        "phone": participant.phone,
        "tags": "[]",
        "attributes": "{}",
        "consent": "{}",
        "links-TOTAL_FORMS": "1",
        "links-INITIAL_FORMS": "1",
        "links-MIN_NUM_FORMS": "0",
        "links-MAX_NUM_FORMS": "0",
        "_save": "Save",
    }
    data.update(fields)
    return data


def test_participant_contacts_are_saved_like_the_api_saves_them(
    admin_client: Client, chain: Chain
) -> None:
    participant = chain.referrer
    form = _participant_form(
        participant,
        phone="+7 (916) 123-45-67",
        email="Anna@Example.RU",
        paid_orders="99",
        referral_code="HACKED",
    )
    url = _url("participants.participant", "change", participant.pk)
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()

    participant.refresh_from_db()
    assert participant.phone == "+79161234567"
    assert participant.email == "Anna@example.ru"
    assert participant.paid_orders == 0
    assert participant.referral_code == chain.referrer.referral_code


def test_participant_with_a_bad_phone_is_refused_beside_the_field(
    admin_client: Client, chain: Chain
) -> None:
    url = _url("participants.participant", "change", chain.referrer.pk)
    response = _speaking(admin_client, "en").post(
        url, _participant_form(chain.referrer, phone="12")
    )
    assert response.status_code == 200
    assert "international format" in response.content.decode()
    assert Participant.objects.get(pk=chain.referrer.pk).phone == ""


def test_participants_are_neither_added_nor_deleted_and_erased_ones_stay_erased(
    admin_client: Client, chain: Chain
) -> None:
    assert admin_client.get(_url("participants.participant", "add")).status_code == 403
    delete = _url("participants.participant", "delete", chain.referrer.pk)
    assert admin_client.get(delete).status_code == 403

    Participant.objects.filter(pk=chain.referee.pk).update(erased_at=timezone.now(), email="")
    url = _url("participants.participant", "change", chain.referee.pk)
    assert (
        admin_client.post(
            url, _participant_form(chain.referee, email="back@example.ru")
        ).status_code
        == 403
    )
    assert Participant.objects.get(pk=chain.referee.pk).email == ""
