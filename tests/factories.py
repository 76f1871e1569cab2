"""Builders of API payloads and objects shared by the tests."""

from typing import Any

LANDING = "https://shop.example/welcome"


def campaign_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Приведи друга",
        "landing_url": LANDING,
        "allowed_redirect_hosts": ["shop.example"],
        "attribution_window_days": 30,
        "new_customers_only": True,
        "rules": [
            {
                "recipient": "referrer",
                "trigger": "first_order",
                "kind": "fixed",
                "amount": "500.00",
                "min_order_amount": "1000.00",
                "hold_days": 0,
            },
            {
                "recipient": "referee",
                "trigger": "signup",
                "kind": "fixed",
                "amount": "300.00",
                "hold_days": 0,
            },
        ],
    }
    body.update(overrides)
    return body


def create_campaign(api: Any, **overrides: Any) -> dict[str, Any]:
    response = api.post("campaigns", campaign_body(**overrides))
    assert response.status_code == 201, response.content
    return dict(response.json())


def create_referrer(api: Any, external_id: str = "u-7", **fields: Any) -> dict[str, Any]:
    body = {"email": f"{external_id}@example.ru", "name": "Анна", **fields}
    response = api.put(f"participants/{external_id}", body)
    assert response.status_code in (200, 201), response.content
    return dict(response.json())


def signup(
    api: Any,
    customer: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    body: dict[str, Any] = {
        "type": "signup",
        "customer": {"external_id": customer, "email": f"{customer}@mail.example"},
        **extra,
    }
    if code:
        body["referral_code"] = code
    return api.post("events", body, headers=headers)


def order(
    api: Any,
    customer: str,
    order_id: str,
    amount: str = "4990.00",
    code: str | None = None,
    **extra: Any,
) -> Any:
    body: dict[str, Any] = {
        "type": "order",
        "customer": {"external_id": customer, "email": f"{customer}@mail.example"},
        "order": {"id": order_id, "amount": amount, "currency": "RUB", "status": "paid"},
        **extra,
    }
    if code:
        body["referral_code"] = code
    return api.post("events", body)


def run_queued(task: Any) -> list[Any]:
    """Run here, as the worker would, the queued calls of `task`; returns what they returned."""
    from django_tasks_db.models import DBTaskResult

    queued = DBTaskResult.objects.filter(task_path=task.module_path, status="READY").order_by("pk")
    results = []
    for row in queued:
        results.append(task.call(*row.args_kwargs["args"], **row.args_kwargs["kwargs"]))
        row.delete()
    return results


def resend_now(reward: Any, *, actor: str) -> Any:
    """The console's and the API's resend, its queued send run at once as the worker would."""
    from sarafan.rewards.delivery import claim_resend, send_claimed

    delivery, to_send = claim_resend(reward, actor=actor)
    return (send_claimed(delivery.pk) if to_send else None) or delivery
