"""A marketer's path through the console in Chromium: log in, read the dashboard, switch
language, find a participant, filter rewards, open a certificate."""

from typing import Any

import pytest

from .data import Chain, make_chain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chains(transactional_db: None) -> list[Chain]:
    return [make_chain(1), make_chain(2)]


def _sidebar(page: Any) -> str:
    return str(page.inner_text("#nav-sidebar-apps"))


def _switch_language(page: Any, code: str) -> None:
    page.click("#nav-sidebar-inner [x-on\\:click*=openUserLinks]")
    page.click(f"form[action='/i18n/setlang/'] input[value='{code}'] + button")
    page.wait_for_load_state("load")


def test_superuser_logs_in_and_sees_the_dashboard(page: Any, chains: list[Chain]) -> None:
    page.reload()
    dashboard = page.locator("#dashboard")
    assert "Тестовый режим" in dashboard.inner_text()
    assert "Боевой режим" in dashboard.inner_text()
    test_mode = page.locator("[data-mode=test]").inner_text()
    assert "Участники" in test_mode
    assert "4" in test_mode  # two chains: two referrers and two referees


def test_language_switches_between_russian_and_english(page: Any) -> None:
    assert "Программы" in _sidebar(page)
    assert "Тестовый режим" in page.inner_text("#dashboard")

    _switch_language(page, "en")
    page.wait_for_selector("text=Test mode")
    assert "Programs" in _sidebar(page)
    assert "Rewards" in _sidebar(page)

    _switch_language(page, "ru")
    page.wait_for_selector("text=Тестовый режим")
    assert "Программы" in _sidebar(page)


def test_participant_is_found_by_email_and_by_external_id(page: Any, chains: list[Chain]) -> None:
    wanted, other = chains[0].referee, chains[1].referee
    page.click("#nav-sidebar-apps a:has-text('Участники')")
    page.wait_for_selector("#result_list")

    for term in (wanted.email, wanted.external_id):
        page.fill("#searchbar", term)
        page.press("#searchbar", "Enter")
        page.wait_for_url("**q=*")
        rows = page.locator("#result_list tbody tr")
        assert rows.count() == 1
        assert wanted.external_id in rows.first.inner_text()
        assert other.external_id not in page.inner_text("#result_list")


def test_rewards_are_filtered_by_status(page: Any, transactional_db: None) -> None:
    issued = make_chain(1, status="issued").reward
    pending = make_chain(2, status="pending").reward
    page.goto("/console/rewards/reward/?status__exact=pending")
    table = page.inner_text("#result_list")
    assert pending.public_id in table
    assert issued.public_id not in table
    assert "в ожидании (удержание)" in table


def test_certificate_opens_with_its_pin_and_balance(page: Any, chains: list[Chain]) -> None:
    certificate = chains[0].certificate
    page.click("#nav-sidebar-apps a:has-text('Сертификаты')")
    listing = page.inner_text("#result_list")
    assert certificate.pin_value() not in listing
    page.click(f"#result_list a:has-text('{certificate.code_value()}')")
    page.wait_for_selector("text=PIN")
    content = page.inner_text("#content")
    assert certificate.code_value() in content
    assert certificate.pin_value() in content
    assert "300,00" in content
