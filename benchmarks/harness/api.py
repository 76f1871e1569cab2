"""The public API as the benchmarks call it: JSON over urllib, and the events they send."""

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
)


def http_json(
    method: str,
    url: str,
    body: object | None = None,
    *,
    key: str | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "User-Agent": "sarafan-bench/1"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        status = exc.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


def customer_context(thread: int, n: int, tag: str) -> dict[str, str]:
    """The same context benchmarks/wrk/events.lua sends."""
    return {
        "ip": f"10.{thread % 250}.{(n // 250) % 250}.{n % 250}",
        "user_agent": USER_AGENT,
        "visitor_id": f"vis{tag}{thread}-{n:012d}",
    }


def signup_event(code: str, external_id: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "signup",
        "referral_code": code,
        "customer": {"external_id": external_id, "email": f"{external_id}@example.com"},
        "context": context,
    }


def order_event(code: str, external_id: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "order",
        "referral_code": code,
        "customer": {"external_id": external_id},
        "order": {
            "id": f"o-{external_id}",
            "amount": "4990.00",
            "currency": "RUB",
            "status": "paid",
        },
        "context": context,
    }


def code_for(codes: Sequence[str], thread: int, n: int) -> str:
    """The code customer n of a thread carries; the same rotation as events.lua."""
    return codes[(n + thread * 7919) % len(codes)]
