"""The anti-fraud console: the moderation queue, one-click and bulk decisions, the case page,
reversals, fraudster marks, the block list, stop-rules and alerts.

Cases in review are made the way production makes them: the friend signs up through the
API from the referrer's IP address and browser (score 0.6), with a throw-away e-mail
(0.6), or both (0.84).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sarafan.alerts.models import Alert
from sarafan.alerts.services import raise_alert
from sarafan.campaigns.models import Campaign
from sarafan.fraud.models import BlockRule, FlaggedSignal, StopRule
from sarafan.moderation.models import Decision
from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward
from tests.conftest import ApiClient, ProjectKeys
from tests.factories import create_campaign, create_referrer, signup

from .data import FRAUD_PAGES, make_chain

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
HOME = {"ip": "203.0.113.7", "user_agent": UA}
ELSEWHERE = {
    "ip": "198.51.100.23",
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1",
}
QUEUE = reverse("admin:referrals_referral_queue")


@dataclass
class Program:
    api: ApiClient
    code: str

    def friend(
        self, customer: str, *, same_home: bool = True, throwaway: bool = False, ip: str = ""
    ) -> Any:
        domain = "mailinator.com" if throwaway else "mail.example"
        context = HOME if same_home else ELSEWHERE
        body = {
            "type": "signup",
            "customer": {"external_id": customer, "email": f"{customer}@{domain}"},
            "referral_code": self.code,
            "context": {**context, "ip": ip} if ip else context,
        }
        response = self.api.post("events", body)
        assert response.status_code == 201, response.content
        return response.json()

    def held(self, customer: str, **how: Any) -> Referral:
        """A friend's signup that the risk score holds for review."""
        answer = self.friend(customer, **how)
        assert answer["referral"]["status"] == "review", answer
        return Referral.objects.get(public_id=answer["referral"]["id"])


def start(api: ApiClient) -> Program:
    """A campaign (the friend gets 300 at signup) and a referrer seen at home."""
    create_campaign(api)
    referrer = create_referrer(api, "u-7")
    assert signup(api, "u-7", context=HOME).status_code == 201
    return Program(api, referrer["referral_code"])


@pytest.fixture
def program(api: ApiClient) -> Program:
    return start(api)


def _speaking(client: Client, language: str) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def _queue(client: Client, **params: Any) -> str:
    response = client.get(QUEUE, params)
    assert response.status_code == 200
    return str(response.content.decode())


def _decide(client: Client, referral: Referral, decision: str, **form: str) -> Any:
    url = reverse("admin:referrals_referral_decide", args=[referral.pk])
    return client.post(url, {"decision": decision, **form})


def _status(referral: Referral) -> str:
    return Referral.objects.get(pk=referral.pk).status


def _rewards(referral: Referral) -> list[str]:
    return list(Reward.objects.filter(referral=referral).values_list("status", flat=True))


# --- the queue -------------------------------------------------------------------------------


def test_odd_ids_in_the_query_string_are_ignored_not_an_error(
    admin_client: Client, program: Program
) -> None:
    risky = program.held("u-42")
    # "²" is a digit to str.isdigit() and not to int(); 30 nines do not fit in a bigint.
    for odd in ("²", "٣", "9" * 30, "-1", "1 "):
        html = _queue(admin_client, mode="test", project=odd, campaign=odd)
        assert risky.public_id in html, odd


def test_queue_lists_only_the_review_cases_of_the_current_mode(
    admin_client: Client, program: Program, live_api: ApiClient
) -> None:
    risky = program.held("u-42")
    calm = program.friend("u-50", same_home=False)["referral"]["id"]
    live = start(live_api).held("u-42")

    html = _queue(admin_client, mode="test")
    assert risky.public_id in html
    assert calm not in html
    assert live.public_id not in html
    assert "Реферер и друг пришли с одного IP-адреса или из одной подсети." in html

    html = _queue(admin_client, mode="live")
    assert live.public_id in html
    assert risky.public_id not in html
    # The chosen mode is remembered by the console.
    assert live.public_id in _queue(admin_client)

    html = _queue(_speaking(admin_client, "en"), mode="test")
    assert "Referrer and friend came from the same IP address or subnet." in html
    assert "Moderation queue" in html


def test_queue_puts_the_riskiest_first_and_filters_by_reason_score_and_campaign(
    admin_client: Client, program: Program
) -> None:
    at_home = program.held("u-42")
    throwaway = program.held("u-43", same_home=False, throwaway=True)
    both = program.held("u-44", throwaway=True)
    assert (at_home.risk_score, throwaway.risk_score, round(both.risk_score, 2)) == (
        0.6,
        0.6,
        0.84,
    )

    html = _queue(admin_client, mode="test")
    assert html.index(both.public_id) < html.index(at_home.public_id)

    html = _queue(admin_client, mode="test", reason="disposable_email")
    assert throwaway.public_id in html and both.public_id in html
    assert at_home.public_id not in html

    html = _queue(admin_client, mode="test", risk_score_from="0.8")
    assert both.public_id in html
    assert at_home.public_id not in html and throwaway.public_id not in html

    html = _queue(admin_client, mode="test", campaign=both.campaign_id)
    assert all(case.public_id in html for case in (at_home, throwaway, both))


def test_a_moderator_without_the_decision_permission_sees_the_queue_but_cannot_decide(
    client: Client, program: Program
) -> None:
    case = program.held("u-42")
    viewer = User.objects.create_user(username="analyst", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_referral"))
    client.force_login(viewer)

    html = _queue(client, mode="test")
    assert case.public_id in html
    assert 'value="approve"' not in html
    assert _decide(client, case, "approve").status_code == 403
    assert _status(case) == "review"


# --- one case ------------------------------------------------------------------------------


def test_one_click_approval_issues_the_rewards_and_records_the_moderator(
    admin_client: Client, program: Program
) -> None:
    case = program.held("u-42")
    assert _rewards(case) == ["review"]

    response = _decide(admin_client, case, "approve", reason="знаю клиента", next=QUEUE)

    assert response.status_code == 302
    assert response["Location"] == QUEUE
    assert _status(case) == "pending"  # back on its way: no paid order yet
    assert _rewards(case) == ["issued"]
    decision = Decision.objects.get(referral=case)
    assert (decision.action, decision.actor, decision.reason) == (
        "approve",
        "admin",
        "знаю клиента",
    )
    assert "одобрен" in admin_client.get(QUEUE).content.decode()


def test_one_click_rejection_rejects_the_rewards(admin_client: Client, program: Program) -> None:
    case = program.held("u-42", throwaway=True)

    assert _decide(admin_client, case, "reject").status_code == 302

    assert _status(case) == "rejected"
    assert _rewards(case) == ["rejected"]
    decision = Decision.objects.get(referral=case)
    assert (decision.action, decision.actor) == ("reject", "admin")


def test_a_case_decided_meanwhile_is_reported_as_a_message_not_an_error(
    admin_client: Client, program: Program
) -> None:
    case = program.held("u-42")
    assert program.api.post(f"referrals/{case.public_id}/approve").status_code == 200

    response = _decide(admin_client, case, "reject", next=QUEUE)
    assert response.status_code == 302
    page = admin_client.get(QUEUE).content.decode()
    assert "Этот кейс уже не на модерации" in page
    assert _status(case) == "pending"
    assert _rewards(case) == ["issued"]

    english = _speaking(admin_client, "en")
    _decide(english, case, "reject")
    page = english.get(QUEUE).content.decode()
    assert "This case is not in review any more" in page


def test_deciding_needs_a_post(admin_client: Client, program: Program) -> None:
    case = program.held("u-42")
    url = reverse("admin:referrals_referral_decide", args=[case.pk])
    assert admin_client.get(url).status_code == 405
    assert _status(case) == "review"


def test_case_page_shows_both_people_their_shared_signals_and_the_reasons(
    admin_client: Client, program: Program
) -> None:
    case = program.held("u-42", throwaway=True)
    reward = Reward.objects.get(referral=case)

    html = admin_client.get(reverse("admin:referrals_referral_change", args=[case.pk]))
    assert html.status_code == 200
    page = html.content.decode()
    assert 'data-signal="ip" data-shared' in page
    assert 'data-signal="user_agent" data-shared' in page
    assert "✓ совпадает" in page
    assert "E-mail друга — на домене одноразовой почты." in page
    assert "домен: mailinator.com" in page
    assert "тот же браузер: да" in page
    assert "u-42@mailinator.com" in page
    assert "u-7" in page
    assert reward.public_id in page
    assert reverse("admin:referrals_referral_decide", args=[case.pk]) in page


# --- many cases --------------------------------------------------------------------------------


def _threshold(client: Client, decision: str, score: str, filters: str, **form: str) -> Any:
    data = {"decision": decision, "threshold": score, "filters": filters, **form}
    return client.post(reverse("admin:referrals_referral_threshold"), data)


def test_threshold_rejects_everything_at_or_above_the_score_after_a_confirmation(
    admin_client: Client, program: Program
) -> None:
    at_home = program.held("u-42")
    throwaway = program.held("u-43", same_home=False, throwaway=True)
    both = program.held("u-44", throwaway=True)

    asked = _threshold(admin_client, "reject", "0,8", "mode=test")
    assert asked.status_code == 200
    assert "Отклонить 1 кейс с оценкой риска не ниже 0,80?" in asked.content.decode()
    assert _status(both) == "review"

    done = _threshold(admin_client, "reject", "0.8", "mode=test", confirm="yes", reason="бот")
    assert done.status_code == 302
    assert "Решено: 1, пропущено: 0." in admin_client.get(done["Location"]).content.decode()
    assert _status(both) == "rejected"
    assert Decision.objects.get(referral=both).reason == "бот"
    assert (_status(at_home), _status(throwaway)) == ("review", "review")

    _threshold(admin_client, "approve", "0.6", "mode=test", confirm="yes")
    assert (_status(at_home), _status(throwaway)) == ("pending", "pending")
    assert Decision.objects.filter(action="approve", actor="admin").count() == 2


def test_threshold_decides_only_what_the_queue_filters_show(
    admin_client: Client, program: Program
) -> None:
    at_home = program.held("u-42")
    throwaway = program.held("u-43", same_home=False, throwaway=True)
    both = program.held("u-44", throwaway=True)

    _threshold(admin_client, "approve", "0.9", "mode=test&reason=disposable_email", confirm="yes")

    assert (_status(throwaway), _status(both)) == ("pending", "pending")
    assert _status(at_home) == "review"
    # Another mode's queue is another queue.
    assert _threshold(admin_client, "reject", "0", "mode=live", confirm="yes").status_code == 200
    assert _status(at_home) == "review"


def test_a_bad_threshold_is_refused_with_a_message(admin_client: Client, program: Program) -> None:
    case = program.held("u-42")
    response = _threshold(admin_client, "reject", "много", "mode=test", confirm="yes")
    assert response.status_code == 302
    assert "Введите оценку от 0 до 1." in admin_client.get(response["Location"]).content.decode()
    assert _status(case) == "review"


def test_selected_cases_are_decided_with_the_list_action(
    admin_client: Client, program: Program
) -> None:
    first, second, other = (program.held(f"u-4{n}") for n in range(3))

    response = admin_client.post(
        f"{QUEUE}?mode=test",
        {
            "action": "reject_selected",
            "_selected_action": [first.pk, second.pk],
            "reason": "одна семья",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "Решено: 2, пропущено: 0." in response.content.decode()
    assert (_status(first), _status(second), _status(other)) == ("rejected", "rejected", "review")
    assert set(Decision.objects.values_list("reason", flat=True)) == {"одна семья"}


# --- decisions ---------------------------------------------------------------------------------


def _reverse(client: Client, decision: Decision, **form: str) -> Any:
    url = reverse("admin:moderation_decision_reverse", args=[decision.pk])
    return client.post(url, form, follow=True)


def test_reversing_a_rejection_puts_the_case_back_in_review(
    admin_client: Client, program: Program
) -> None:
    case = program.held("u-42")
    _decide(admin_client, case, "reject")
    decision = Decision.objects.get(referral=case)

    response = _reverse(admin_client, decision, reason="ошибся")

    assert response.status_code == 200
    assert f"Решение {decision.public_id} отменено" in response.content.decode()
    assert _status(case) == "review"
    assert _rewards(case) == ["review"]
    decision.refresh_from_db()
    assert decision.reversed_by == "admin"
    assert decision.reversed_at is not None

    again = _reverse(admin_client, decision)
    assert again.status_code == 200
    assert "Это решение уже отменено." in again.content.decode()


def test_an_approval_already_paid_out_is_not_reversed_and_says_why(
    admin_client: Client, program: Program
) -> None:
    case = program.held("u-42")
    _decide(admin_client, case, "approve")
    decision = Decision.objects.get(referral=case)

    case_page = admin_client.get(reverse("admin:referrals_referral_change", args=[case.pk]))
    assert f'data-object-action="reverse-{decision.public_id}"' not in case_page.content.decode()

    response = _reverse(admin_client, decision)
    assert response.status_code == 200
    assert "уже выплачено" in response.content.decode()
    assert Decision.objects.get(pk=decision.pk).reversed_at is None
    assert _rewards(case) == ["issued"]


def test_decisions_are_reversed_from_their_list(admin_client: Client, program: Program) -> None:
    cases = [program.held("u-42"), program.held("u-43")]
    for case in cases:
        _decide(admin_client, case, "reject")
    decisions = list(Decision.objects.all())

    response = admin_client.post(
        reverse("admin:moderation_decision_changelist"),
        {"action": "reverse_selected", "_selected_action": [d.pk for d in decisions]},
        follow=True,
    )

    assert "Отменено решений: 2" in response.content.decode()
    assert [_status(case) for case in cases] == ["review", "review"]
    assert all(d.reversed_by == "admin" for d in Decision.objects.all())


# --- fraudsters --------------------------------------------------------------------------------


def test_marking_a_fraudster_rejects_their_open_cases_and_flags_their_signals(
    admin_client: Client, program: Program
) -> None:
    cases = [program.held("u-42"), program.held("u-43", throwaway=True)]
    referrer = Participant.objects.get(external_id="u-7", livemode=False)

    response = admin_client.post(
        reverse("admin:participants_participant_changelist"),
        {"action": "mark_fraudster", "_selected_action": [referrer.pk], "reason": "ферма"},
        follow=True,
    )

    assert "Отклонено открытых кейсов: 2." in response.content.decode()
    assert [_status(case) for case in cases] == ["rejected", "rejected"]
    referrer.refresh_from_db()
    assert referrer.fraud_flagged_at is not None
    assert FlaggedSignal.objects.filter(participant=referrer).exists()
    assert set(Decision.objects.values_list("actor", flat=True)) == {"admin"}
    page = admin_client.get(
        reverse("admin:participants_participant_change", args=[referrer.pk])
    ).content.decode()
    assert "Помечен как мошенник с" in page
    assert "Снять метку мошенника" in page

    url = reverse("admin:participants_participant_fraudster", args=[referrer.pk])
    admin_client.post(url, {"decision": "unmark"})
    referrer.refresh_from_db()
    assert referrer.fraud_flagged_at is None
    assert not FlaggedSignal.objects.filter(participant=referrer).exists()
    assert [_status(case) for case in cases] == ["rejected", "rejected"]


def test_participant_page_shows_risk_flags_and_marks_a_fraudster(
    admin_client: Client, program: Program
) -> None:
    case = program.held("u-42")
    friend = case.referee
    Participant.objects.filter(pk=friend.pk).update(risk_flags=["high_refund_rate"])
    url = reverse("admin:participants_participant_change", args=[friend.pk])

    page = admin_client.get(url).content.decode()
    assert "Многие заказы друзей этого реферера были возвращены." in page
    assert "Пометить как мошенника" in page

    fraudster = reverse("admin:participants_participant_fraudster", args=[friend.pk])
    response = admin_client.post(fraudster, {"decision": "mark", "reason": "дубль", "next": url})
    assert response["Location"] == url
    assert _status(case) == "rejected"
    listing = admin_client.get(
        reverse("admin:participants_participant_changelist"), {"fraudster": "yes"}
    ).content.decode()
    assert friend.external_id in listing


# --- block list, stop-rules, alerts -------------------------------------------------------------


def _block(client: Client, project_keys: ProjectKeys, kind: str, value: str) -> Any:
    form = {"project": project_keys.project.pk, "kind": kind, "value": value, "note": "спам"}
    return _speaking(client, "ru").post(reverse("admin:fraud_blockrule_add"), form)


def test_block_list_refuses_a_bad_ip_range_beside_the_field(
    admin_client: Client, project_keys: ProjectKeys
) -> None:
    response = _block(admin_client, project_keys, "ip_range", "300.1.2.0/24")
    assert response.status_code == 200
    assert "«300.1.2.0/24» — не IP-адрес и не диапазон вида 203.0.113.0/24." in (
        response.content.decode()
    )
    assert not BlockRule.objects.exists()

    response = _block(admin_client, project_keys, "email_domain", "@Spam.Example")
    assert response.status_code == 302
    entry = BlockRule.objects.get()
    assert (entry.value, entry.livemode, entry.created_by) == ("spam.example", False, "admin")

    again = _block(admin_client, project_keys, "email_domain", "spam.example")
    assert again.status_code == 200
    assert BlockRule.objects.count() == 1


def test_a_block_list_entry_added_in_the_console_blocks_the_next_friend(
    admin_client: Client, program: Program, project_keys: ProjectKeys
) -> None:
    assert _block(admin_client, project_keys, "ip_range", "198.51.100.7/24").status_code == 302
    assert BlockRule.objects.get().value == "198.51.100.0/24"

    answer = program.friend("u-60", same_home=False)
    assert "blocklisted" in answer["fraud"]["reasons"]


def test_block_list_add_form_starts_in_the_mode_chosen_in_the_queue(
    admin_client: Client, project_keys: ProjectKeys
) -> None:
    def live_checked() -> bool:
        page = admin_client.get(reverse("admin:fraud_blockrule_add")).content.decode()
        checkbox = page.split('name="livemode"', 1)[1].split(">", 1)[0]
        return re.search(r"\schecked(\s|$)", checkbox) is not None

    _queue(admin_client, mode="live")
    assert live_checked()
    _queue(admin_client, mode="test")
    assert not live_checked()


def test_stop_rule_threshold_window_and_actions_are_edited(
    admin_client: Client, project_keys: ProjectKeys
) -> None:
    rule = StopRule.objects.get(kind="velocity_ip", livemode=False, campaign=None)
    url = reverse("admin:fraud_stoprule_change", args=[rule.pk])
    page = admin_client.get(url).content.decode()
    assert "с одного IP-адреса за окно" in page

    response = admin_client.post(
        url, {"threshold": "25", "window_minutes": "30", "actions": ["alert", "pause"]}
    )

    assert response.status_code == 302, response.content.decode()
    rule.refresh_from_db()
    assert (str(rule.threshold), rule.window_minutes) == ("25.00", 30)
    assert (rule.actions, rule.enabled) == (["alert", "pause"], False)
    listing = admin_client.get(reverse("admin:fraud_stoprule_changelist")).content.decode()
    assert "25 клиентов" in listing
    assert "30 минут" in listing

    refused = admin_client.post(url, {"threshold": "0", "window_minutes": "30", "actions": []})
    assert refused.status_code == 200
    assert StopRule.objects.get(pk=rule.pk).threshold == 25


def test_a_campaign_gets_a_stop_rule_of_its_own_in_its_own_mode(
    admin_client: Client, program: Program, live_api: ApiClient, project_keys: ProjectKeys
) -> None:
    create_campaign(live_api)
    campaign = Campaign.objects.get(livemode=False)
    live_campaign = Campaign.objects.get(livemode=True)
    form = {
        "project": project_keys.project.pk,
        "kind": "fast_conversion",
        "threshold": "10",
        "window_minutes": "60",
        "actions": ["hold"],
        "enabled": "on",
    }
    add = reverse("admin:fraud_stoprule_add")

    wrong = admin_client.post(add, {**form, "campaign": live_campaign.pk})
    assert wrong.status_code == 200
    assert "Выберите кампанию того же проекта и режима" in wrong.content.decode()
    assert not StopRule.objects.filter(campaign__isnull=False).exists()

    response = admin_client.post(add, {**form, "campaign": campaign.pk})
    assert response.status_code == 302, response.content.decode()
    rule = StopRule.objects.get(campaign=campaign)
    assert (rule.kind, rule.actions, rule.livemode) == ("fast_conversion", ["hold"], False)
    # A campaign's rule may be deleted; the project's defaults are switched off instead.
    assert (
        admin_client.get(reverse("admin:fraud_stoprule_delete", args=[rule.pk])).status_code == 200
    )
    default = StopRule.objects.filter(campaign=None).first()
    assert default is not None
    delete_default = reverse("admin:fraud_stoprule_delete", args=[default.pk])
    assert admin_client.get(delete_default).status_code == 403


def test_alerts_are_counted_on_the_dashboard_until_acknowledged(
    admin_client: Client, program: Program, project_keys: ProjectKeys
) -> None:
    program.held("u-42")
    alert = raise_alert(
        project_id=project_keys.project.pk,
        livemode=False,
        kind="fraud.anomaly",
        subject="ip:203.0.113.7",
        message="Стоп-правило «клиентов на один IP-адрес» (порог 10): 12",
    )
    assert alert is not None

    def test_mode() -> str:
        html = admin_client.get(reverse("admin:index")).content.decode()
        part = html.split('data-mode="test"')[1].split('data-mode="live"')[0]
        return "".join(part.split())

    figures = test_mode()
    assert "Кейсынамодерации" in figures
    assert f'href="{QUEUE}?mode=test"' in figures
    assert "Непрочитанныеуведомления" in figures
    assert ">1<" in figures

    response = admin_client.post(
        reverse("admin:alerts_alert_changelist"),
        {"action": "acknowledge_selected", "_selected_action": [alert.pk]},
        follow=True,
    )
    assert "Отмечено прочитанными: 1." in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_by == "admin"
    assert Alert.objects.filter(acknowledged_at__isnull=True).count() == 0


def test_an_alert_is_acknowledged_from_its_page(
    admin_client: Client, project_keys: ProjectKeys
) -> None:
    alert = raise_alert(
        project_id=project_keys.project.pk,
        livemode=True,
        kind="campaign.paused",
        subject="campaign:1",
        message="Кампания приостановлена",
    )
    assert alert is not None
    page = admin_client.get(reverse("admin:alerts_alert_change", args=[alert.pk]))
    assert "Отметить уведомление как прочитанное" in page.content.decode()

    admin_client.post(reverse("admin:alerts_alert_acknowledge", args=[alert.pk]))

    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.acknowledged_at is not None) == ("admin", True)


# --- every anti-fraud page opens --------------------------------------------------------------


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("label", sorted(FRAUD_PAGES))
def test_fraud_pages_search_filter_and_open(
    admin_client: Client, language: str, label: str
) -> None:
    query, shows, obj = FRAUD_PAGES[label]
    wanted, other = make_chain(1), make_chain(2)
    client = _speaking(admin_client, language)
    app_label, model_name = label.split(".")

    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"), query(wanted))
    assert response.status_code == 200
    assert response.headers["Content-Language"] == language
    html = response.content.decode()
    assert shows(wanted) in html
    assert shows(other) not in html

    page = client.get(reverse(f"admin:{app_label}_{model_name}_change", args=[obj(wanted).pk]))
    assert page.status_code == 200
    assert shows(wanted) in page.content.decode()


def _constant_queries(admin_client: Client, url: str, grow: Callable[[int], None]) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    for n in range(1, 4):
        grow(n)
    admin_client.get(url)  # caches (content types, sessions) settle on the first request
    with_3 = queries()
    for n in range(4, 14):
        grow(n)
    assert queries() == with_3


@pytest.mark.parametrize("label", sorted(FRAUD_PAGES))
def test_fraud_list_pages_cost_the_same_queries_for_3_rows_as_for_13(
    admin_client: Client, label: str
) -> None:
    app_label, model_name = label.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    _constant_queries(admin_client, url, lambda n: make_chain(n) and None)


def test_queue_costs_the_same_queries_for_3_cases_as_for_13(
    admin_client: Client, program: Program
) -> None:
    _constant_queries(
        admin_client,
        f"{QUEUE}?mode=test",
        # Each from its own address: thirteen friends from one would trip the IP stop-rule.
        lambda n: (
            program.held(f"friend-{n}", same_home=False, throwaway=True, ip=f"192.0.2.{n}") and None
        ),
    )


@pytest.mark.parametrize("language", ["ru", "en"])
def test_queue_and_case_pages_open_in_both_languages(
    admin_client: Client, program: Program, language: str
) -> None:
    case = program.held("u-42", throwaway=True)
    client = _speaking(admin_client, language)
    assert client.get(QUEUE).headers["Content-Language"] == language
    page = client.get(reverse("admin:referrals_referral_change", args=[case.pk]))
    assert page.status_code == 200
    assert ("Сигналы идентификации" if language == "ru" else "Identity signals") in (
        page.content.decode()
    )
