"""Console fixtures: a superuser, one full referral chain, and Chromium driven by Playwright."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from .data import Chain, make_chain

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


# Module, not session, scope: while Playwright is alive its event loop counts as running in
# this thread, so DJANGO_ALLOW_ASYNC_UNSAFE must stay set; for a whole session that would leak
# into every later test of the worker, and into the subprocesses some of them start (where
# `check --deploy` rightly fails on it).
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium; on CI its absence is a failure, elsewhere a skip."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if _on_ci():
            pytest.fail(message + " (CI must run the browser tests)", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, and Django refuses
    # ORM calls from a thread with a running loop unless told the caller is really sync.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def chain(db: None) -> Chain:
    return make_chain(1)


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser(
        username="director", email="director@example.ru", password=PASSWORD
    )


@pytest.fixture
def page(browser: Any, live_server: Any, superuser: User) -> Iterator[Any]:
    """A Russian-speaking browser tab, logged in to the console as a superuser."""
    context = browser.new_context(
        locale="ru-RU", base_url=live_server.url, viewport={"width": 1440, "height": 900}
    )
    # Every wait of a page (a selector, a navigation) fails after this long: generous, as
    # Chromium and the live server share a loaded machine with other tests.
    context.set_default_timeout(60_000)
    tab = context.new_page()
    tab.goto("/console/")
    tab.fill("input[name=username]", superuser.username)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_selector("#dashboard")
    yield tab
    context.close()
