"""A referral program spread over many days: built through the API, then backdated.

Every request of a day runs inside `dated(moment)`, which afterwards moves the rows it
wrote (participants, referrals, clicks, events, orders, rewards and their histories) to
that moment, as if they had arrived then.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Max, Model
from django.utils import timezone

from sarafan.links.models import Click
from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral, ReferralEvent
from sarafan.rewards.models import Reward, RewardEvent
from sarafan.tracking.models import Event, Order
from tests.factories import create_campaign, create_referrer, order, signup

BACKDATED: dict[type[Model], tuple[str, ...]] = {
    Participant: ("created_at",),
    Referral: ("created_at",),
    ReferralEvent: ("created_at",),
    Click: ("created_at",),
    Event: ("created_at", "occurred_at"),
    Order: ("occurred_at",),
    Reward: ("created_at",),
    RewardEvent: ("created_at",),
}
# Hours of the day the activity of day k happens at, in turn: 00:30 is still the day
# before in UTC, which the rollups must not take for it.
HOURS = (time(0, 30), time(12, 0), time(23, 30), time(9, 15))
# People click in browsers: a request without a User-Agent is a bot's and counts nowhere.
BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def today() -> date:
    return timezone.localdate(timezone=timezone.get_default_timezone())


def moment(days_ago: int, at: time = time(12, 0)) -> datetime:
    """A time `days_ago` days before today, in the project's time zone."""
    day = today() - timedelta(days=days_ago)
    return datetime.combine(day, at, tzinfo=timezone.get_default_timezone())


@contextmanager
def dated(when: datetime) -> Iterator[None]:
    """Rows written inside the block get `when` as their time."""
    marks = {model: model.objects.aggregate(top=Max("pk"))["top"] or 0 for model in BACKDATED}
    yield
    for model, columns in BACKDATED.items():
        model.objects.filter(pk__gt=marks[model]).update(**dict.fromkeys(columns, when))


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.content
    return dict(response.json())


@dataclass
class Program:
    """Campaign A (the default) and B; referrers anna, boris (a partner) and carl."""

    api: Any
    a: str
    b: str
    codes: dict[str, str]
    tag: str = ""  # keeps ids apart when one project gets two programs
    customers: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    serial: int = 0

    def click(self, link: str, times: int = 1, *, user_agent: str = BROWSER) -> None:
        for _ in range(times):
            response = self.api.client.get(f"/r/{self.codes[link]}", HTTP_USER_AGENT=user_agent)
            assert response.status_code == 302, response.content

    def customer(self, link: str, **extra: Any) -> str:
        self.serial += 1
        name = f"{link}-{self.tag}{self.serial}"
        ok(signup(self.api, name, self.codes[link], **extra))
        self.customers.append(name)
        return name

    def buy(self, customer: str, amount: str = "1500.00", **extra: Any) -> str:
        self.serial += 1
        order_id = f"o-{self.tag}{self.serial}"
        ok(order(self.api, customer, order_id, amount=amount, **extra))
        self.orders.append(order_id)
        return order_id

    def share(self, sharer: str, channel: str, **extra: Any) -> None:
        body = {"type": "share", "participant": sharer, "channel": channel, **extra}
        ok(self.api.post("events", body))

    def refund(self, order_id: str) -> None:
        ok(self.api.post("events", {"type": "refund", "order": {"id": order_id}}))

    def join(self, name: str) -> None:
        ok(self.api.put(f"participants/{name}", {"email": f"{name}@mail.example"}))


def build_program(api: Any, *, days: int = 40, step: int = 3, tag: str = "") -> Program:
    """Activity every `step` days from `days` days ago up to today, in both campaigns."""
    with dated(moment(days + 5)):
        a = create_campaign(api, name="A")["id"]
        b = create_campaign(
            api,
            name="B",
            rules=[
                {
                    "recipient": "referrer",
                    "trigger": "first_order",
                    "kind": "fixed",
                    "amount": "400.00",
                },
                {"recipient": "referee", "trigger": "signup", "kind": "fixed", "amount": "150.00"},
            ],
        )["id"]
        codes = {
            name: create_referrer(api, name)["referral_code"] for name in ("anna", "boris", "carl")
        }
        for owner, channel, campaign in (
            ("anna", "telegram", a),
            ("boris", "partner", b),
            ("boris", "email", b),
            ("carl", "vk", b),
        ):
            body = {"channel": channel, "campaign": campaign}
            codes[f"{owner}-{channel}"] = ok(api.post(f"participants/{owner}/links", body))["code"]
    program = Program(api=api, a=a, b=b, codes=codes, tag=tag)
    for number, days_ago in enumerate(range(days, 0, -step)):
        with dated(moment(days_ago, HOURS[number % len(HOURS)])):
            day_of_activity(program, number)
    day_of_activity(program, days)  # today, as it happens
    return program


def day_of_activity(program: Program, number: int) -> None:
    """One day's traffic; `number` varies it from day to day."""
    program.click("anna", times=number % 3 + 1)
    program.click("boris-partner", times=2)
    program.click("anna-telegram")
    if number % 2:
        program.click("carl-vk")
    first = program.customer("anna-telegram")
    program.buy(first)
    partner_customer = program.customer("boris-partner")
    if number % 2 == 0:
        program.buy(partner_customer, amount="2500.00")
    if number % 3 == 0:
        program.buy(program.customer("carl-vk"), amount="900.00")  # under A's minimum
    if len(program.customers) > 3:
        program.buy(program.customers[-4], amount="300.00")  # a repeat order
    program.share("anna", "telegram")
    program.share("boris", "email", campaign=program.b)
    program.share("carl", "partner")
    program.join(f"solo-{program.tag}{number}")
    if number % 4 == 1:
        program.refund(program.orders[-2])
    if number % 5 == 2:  # a self-referral: rejected, but anna still counts as active
        customer = {"external_id": f"self-{program.tag}{number}", "email": "anna@example.ru"}
        body = {"type": "signup", "customer": customer, "referral_code": program.codes["anna"]}
        ok(program.api.post("events", body))
