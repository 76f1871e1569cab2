"""Builders shared by the anti-fraud tests: campaigns, people, events and parallel senders."""

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test import Client

from tests.conftest import BROWSER_UA, ApiClient
from tests.factories import create_campaign, create_referrer

REFERRER_REWARD = {
    "recipient": "referrer",
    "trigger": "first_order",
    "kind": "fixed",
    "amount": "500.00",
}
REFEREE_SIGNUP_REWARD = {
    "recipient": "referee",
    "trigger": "signup",
    "kind": "fixed",
    "amount": "300.00",
}


def held(rule: dict[str, Any], days: int = 14) -> dict[str, Any]:
    """The rule with a hold period: its rewards wait as `pending` (still moderatable)."""
    return {**rule, "hold_days": days}


def campaign(api: ApiClient, **overrides: Any) -> dict[str, Any]:
    """A campaign paying the referrer 500.00 for the friend's first order, no hold."""
    overrides.setdefault("rules", [REFERRER_REWARD])
    return create_campaign(api, **overrides)


def referrer(api: ApiClient, external_id: str = "u-7", **fields: Any) -> str:
    """A referrer made through the participants API; returns their referral code."""
    return str(create_referrer(api, external_id, **fields)["referral_code"])


def event(
    api: ApiClient,
    kind: str,
    customer: str | dict[str, Any],
    *,
    code: str | None = None,
    order: str | None = None,
    amount: str = "4990.00",
    context: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    """POST /api/v1/events; `customer` is an external id or a whole customer object."""
    person = customer if isinstance(customer, dict) else {"external_id": customer}
    person.setdefault("email", f"{person['external_id']}@mail.example")
    body: dict[str, Any] = {"type": kind, "customer": person, **extra}
    if code:
        body["referral_code"] = code
    if order:
        body["order"] = {"id": order, "amount": amount, "currency": "RUB", "status": "paid"}
    if context:
        body["context"] = context
    return api.post("events", body, headers=headers)


def ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.content
    return dict(response.json())


def signup(api: ApiClient, customer: str | dict[str, Any], **kw: Any) -> dict[str, Any]:
    return ok(event(api, "signup", customer, **kw))


def buy(api: ApiClient, customer: str | dict[str, Any], order: str, **kw: Any) -> dict[str, Any]:
    return ok(event(api, "order", customer, order=order, **kw))


def refund(api: ApiClient, order: str) -> dict[str, Any]:
    return ok(api.post("events", {"type": "refund", "order": {"id": order}}))


def visit(path: str, *, user_agent: str = BROWSER_UA, **headers: str) -> tuple[Client, str]:
    """A visitor's browser follows a link; returns the browser and its sf_vid."""
    browser = Client(HTTP_USER_AGENT=user_agent)
    response = browser.get(path, **headers)
    assert response.status_code == 302, response.content
    return browser, browser.cookies["sf_vid"].value


def referral(api: ApiClient, referral_id: str) -> dict[str, Any]:
    return ok(api.get(f"referrals/{referral_id}"), 200)


def reasons(body: dict[str, Any]) -> list[str]:
    return list(body["fraud"]["reasons"])


def detail(body: dict[str, Any], code: str) -> dict[str, Any]:
    """One reason's entry in a `fraud` (or `risk`) object's details."""
    block = body.get("fraud") or body["risk"]
    [entry] = [item for item in block["details"] if item["code"] == code]
    return dict(entry)


def error(response: Any, status: int) -> dict[str, Any]:
    """API.md's error shape, asserted; returns the inner error object."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "code", "message", "param"}
    return dict(body["error"])


def parallel[T](fn: Callable[[int], T], count: int) -> list[T]:
    """Run fn(0..count-1) in threads started together, each with its own DB connection."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = fn(index)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results
