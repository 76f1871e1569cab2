"""A moderator's path through the anti-fraud console in Chromium: open the queue, read the
reasons in Russian, open a case and its evidence, approve with one click, then reject the
rest with the score-threshold form."""

from typing import Any

import pytest
from django.test import Client

from sarafan.moderation.models import Decision
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward
from tests.conftest import ApiClient, ProjectKeys

from .test_moderation import Program, start

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def program(project_keys: ProjectKeys) -> Program:
    return start(ApiClient(Client(), project_keys.keys["secret_key_test"]))


def _rows(page: Any) -> Any:
    return page.locator("#result_list tbody tr")


def _rewards(referral: Referral) -> list[str]:
    return list(Reward.objects.filter(referral=referral).values_list("status", flat=True))


def test_moderator_approves_one_case_in_one_click_and_rejects_the_rest_by_score(
    page: Any, program: Program
) -> None:
    at_home = program.held("u-42")
    from_the_queue = program.held("u-43")
    throwaway = program.held("u-44", same_home=False, throwaway=True)
    both = program.held("u-45", throwaway=True)

    page.click("#nav-sidebar-apps a:has-text('Очередь модерации')")
    page.click("#queue-modes a[data-mode=test]")
    page.wait_for_url("**mode=test*")
    assert _rows(page).count() == 4
    assert both.public_id in _rows(page).first.inner_text()  # riskiest first
    table = page.inner_text("#result_list")
    assert "Реферер и друг пришли с одного IP-адреса или из одной подсети." in table
    assert "E-mail друга — на домене одноразовой почты." in table

    # The case page: the evidence side by side, then one click.
    page.click(f"#result_list a:has-text('{at_home.public_id}')")
    page.wait_for_selector("#case-signals")
    shared_ip = page.locator("#case-signals tr[data-signal=ip]")
    assert shared_ip.get_attribute("data-shared") is not None
    assert "✓ совпадает" in shared_ip.text_content()  # drawn in capitals
    assert "u-42@mail.example" in page.inner_text("#case-people")
    page.click("form[data-object-action=decide] button[value=approve]")
    page.wait_for_selector(f"text=Кейс {at_home.public_id} одобрен.")
    assert at_home.public_id not in page.inner_text("#result_list")

    # One click on a row of the queue.
    page.click(f"button[data-case='{from_the_queue.public_id}'][value=approve]")
    page.wait_for_selector(f"text=Кейс {from_the_queue.public_id} одобрен.")
    assert _rows(page).count() == 2

    # Everything left at 0.5 or above goes, after a confirmation.
    threshold = page.locator("form[data-threshold=reject]")
    threshold.locator("input[name=threshold]").fill("0,5")
    threshold.locator("button[type=submit]").click()
    page.wait_for_selector("#threshold-confirm")
    assert "Отклонить 2 кейса с оценкой риска не ниже 0,50?" in page.inner_text(
        "#threshold-confirm"
    )
    page.fill("#threshold-confirm input[name=reason]", "одноразовая почта")
    page.click("#threshold-confirm button[type=submit]")
    page.wait_for_selector("text=Решено: 2, пропущено: 0.")
    content = page.inner_text("#content")
    assert all(case.public_id not in content for case in (throwaway, both))

    for case in (at_home, from_the_queue):
        case.refresh_from_db()
        assert case.status == "pending"
        assert _rewards(case) == ["issued"]
    for case in (throwaway, both):
        case.refresh_from_db()
        assert case.status == "rejected"
        assert _rewards(case) == ["rejected"]
    decisions = {d.referral_id: d for d in Decision.objects.all()}
    assert {d.actor for d in decisions.values()} == {"director"}
    assert decisions[both.pk].reason == "одноразовая почта"
    assert decisions[at_home.pk].action == "approve"
