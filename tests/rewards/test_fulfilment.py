"""Fulfilment through the API: pools, empty pools, the choice of brand, the reward bank,
the gift-tax hold, expiry, and the state machine's every move."""

import json
from datetime import timedelta
from decimal import Decimal
from itertools import product

import pytest
from django.test import Client
from django.utils import timezone

from sarafan.alerts.models import Alert
from sarafan.core.errors import Conflict
from sarafan.events.dispatch import dispatch
from sarafan.events.models import OutboxEvent
from sarafan.events.tasks import dispatch_events
from sarafan.participants.models import Participant
from sarafan.rewards import handlers, pools, waiting
from sarafan.rewards.lifecycle import expire_certificates
from sarafan.rewards.models import (
    Certificate,
    PoolCode,
    PoolCodeStatus,
    Reward,
    RewardStatus,
)
from sarafan.rewards.moves import move
from sarafan.rewards.transitions import TRANSITIONS
from tests.factories import create_campaign, create_referrer, order, run_queued

pytestmark = pytest.mark.django_db
FUTURE = (timezone.now() + timedelta(days=365)).date().isoformat()


def _rule(amount: str = "500.00", **extra):
    return {
        "recipient": "referrer",
        "trigger": "first_order",
        "kind": "fixed",
        "amount": amount,
        "hold_days": 0,
        **extra,
    }


def _codes(prefix: str, count: int, nominal: str = "500.00") -> str:
    rows = "".join(f"{prefix}-{i:04d},{i:04d},{nominal},{FUTURE}\n" for i in range(count))
    return "code,pin,nominal,expiry\n" + rows


@pytest.fixture
def ozon(project):
    return pools.create_brand(
        project=project, livemode=False, name="Ozon", terms="Use on ozon.ru", currency="RUB"
    )


@pytest.fixture
def wb(project):
    return pools.create_brand(project=project, livemode=False, name="Wildberries")


def _pool(brand, denomination="500.00", codes=0, prefix=None):
    pool = pools.create_pool(brand=brand, denomination=Decimal(denomination))
    if codes:
        report = pools.upload_codes(
            pool=pool, csv_text=_codes(prefix or brand.name, codes, denomination), dry_run=False
        )
        assert report["accepted"] == codes
    return pool


def _referred_order(api, n: int, amount: str = "4990.00"):
    code = create_referrer(api, f"ref-{n}")["referral_code"]
    response = order(api, f"cust-{n}", f"o-{n}", amount=amount, code=code)
    assert response.status_code == 201, response.content
    return response.json()["rewards"][0]["id"]


# -- pools ---------------------------------------------------------------------------------


def test_a_reward_from_a_pool_gets_one_uploaded_code(api, ozon):
    pool = _pool(ozon, codes=3, prefix="OZ")
    create_campaign(api, rules=[_rule()], reward_source={"type": "pool", "pool": pool.public_id})
    reward = api.get(f"rewards/{_referred_order(api, 1)}").json()
    assert reward["status"] == "issued"
    assert reward["brand"] == ozon.public_id
    certificate = reward["certificate"]
    assert certificate["kind"] == "pool"
    assert certificate["code"].startswith("OZ-")
    assert certificate["pin"]
    assert certificate["brand"] == "Ozon"
    assert certificate["amount"] == "500.00"
    allocated = PoolCode.objects.get(status=PoolCodeStatus.ALLOCATED)
    assert allocated.code_value() == certificate["code"]
    # The code is not stored in clear anywhere.
    stored = Certificate.objects.get(public_id=certificate["id"])
    assert stored.code_hash is None
    assert certificate["code"] not in stored.code_encrypted
    assert [h["type"] for h in api.get(f"rewards/{reward['id']}").json()["history"]] == [
        "reward.pending",
        "reward.approved",
        "reward.issued",
    ]


def test_an_empty_pool_keeps_the_reward_approved_until_codes_arrive(api, ozon):
    pool = _pool(ozon)
    create_campaign(api, rules=[_rule()], reward_source={"type": "pool", "pool": pool.public_id})
    reward_id = _referred_order(api, 1)
    reward = api.get(f"rewards/{reward_id}").json()
    assert reward["status"] == "approved"
    assert reward["certificate"] is None
    assert reward["waiting"]["reason"] == "pool_empty"
    assert reward["waiting"]["last_error"] == "No codes left in the pool."
    assert api.get("rewards", waiting="pool_empty").json()["data"][0]["id"] == reward_id
    alert = Alert.objects.get(kind="pool.empty")
    assert alert.subject == pool.public_id
    # A second waiting reward raises no second alert within the hour.
    _referred_order(api, 2)
    assert Alert.objects.filter(kind="pool.empty").count() == 1

    pools.upload_codes(pool=pool, csv_text=_codes("NEW", 1), dry_run=False)
    assert waiting.resume_waiting() == 1
    issued = api.get(f"rewards/{reward_id}").json()
    assert issued["status"] == "issued"
    assert issued["waiting"] is None
    assert issued["certificate"]["code"] == "NEW-0000"
    # The second reward still waits: one code arrived for two rewards.
    assert api.get("rewards", waiting="pool_empty").json()["data"][0]["status"] == "approved"


def test_retry_now_issues_a_waiting_reward_and_refuses_others(api, ozon):
    pool = _pool(ozon)
    create_campaign(api, rules=[_rule()], reward_source={"type": "pool", "pool": pool.public_id})
    reward_id = _referred_order(api, 1)
    assert api.post(f"rewards/{reward_id}/retry").json()["waiting"]["reason"] == "pool_empty"
    pools.upload_codes(pool=pool, csv_text=_codes("R", 1), dry_run=False)
    assert api.post(f"rewards/{reward_id}/retry").json()["status"] == "issued"
    again = api.post(f"rewards/{reward_id}/retry")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_waiting"


def test_no_code_is_handed_out_twice_across_many_rewards(api, ozon):
    pool = _pool(ozon, codes=5, prefix="U")
    create_campaign(api, rules=[_rule()], reward_source={"type": "pool", "pool": pool.public_id})
    ids = [_referred_order(api, n) for n in range(7)]
    rewards = [api.get(f"rewards/{i}").json() for i in ids]
    codes = [r["certificate"]["code"] for r in rewards if r["certificate"]]
    assert len(codes) == 5 == len(set(codes))
    assert [r["waiting"]["reason"] for r in rewards if not r["certificate"]] == ["pool_empty"] * 2
    assert pools.stock(pool)["available"] == 0


@pytest.mark.parametrize(
    ("source", "rules", "param", "code"),
    [
        ({"pool": "POOL"}, [_rule("700.00")], "rules.0.amount", "no_pool_for_amount"),
        (
            {"pool": "POOL"},
            [_rule(kind="percent", percent="5", amount=None)],
            "rules.0.kind",
            "pool_needs_fixed_amounts",
        ),
        (
            {"pool": "POOL", "choice": {"days": 3, "default_brand": "brd_nope"}},
            [_rule()],
            "reward_source.choice.default_brand",
            "invalid_request",
        ),
        ({"pools": []}, [_rule()], "reward_source.pool", "invalid_request"),
        (
            {"pool": "POOL", "bank": {"min_amount": "1000.00"}},
            [_rule()],
            "reward_source.bank",
            "invalid_request",
        ),
    ],
)
def test_a_pool_source_must_fit_the_rules(api, ozon, source, rules, param, code):
    pool = _pool(ozon)
    source = {
        "type": "pool",
        **{k: pool.public_id if v == "POOL" else v for k, v in source.items()},
    }
    response = api.post(
        "campaigns",
        {
            "name": "P",
            "landing_url": "https://shop.example/",
            "rules": rules,
            "reward_source": source,
        },
    )
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code)


def test_changing_rules_is_checked_against_the_pool(api, ozon):
    pool = _pool(ozon)
    campaign = create_campaign(
        api, rules=[_rule()], reward_source={"type": "pool", "pool": pool.public_id}
    )
    response = api.patch(f"campaigns/{campaign['id']}", {"rules": [_rule("900.00")]})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "rules.0.amount"


def test_a_pool_of_another_currency_is_refused(api, project):
    usd = pools.create_brand(project=project, livemode=False, name="Amazon", currency="USD")
    pool = pools.create_pool(brand=usd, denomination=Decimal("500.00"))
    response = api.post(
        "campaigns",
        {
            "name": "P",
            "landing_url": "https://shop.example/",
            "rules": [_rule()],
            "reward_source": {"type": "pool", "pool": pool.public_id},
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "reward_source.pools.0"


# -- choice of brand -----------------------------------------------------------------------


@pytest.fixture
def choice_campaign(api, ozon, wb):
    first = _pool(ozon, codes=2, prefix="OZ")
    second = _pool(wb, codes=2, prefix="WB")
    return create_campaign(
        api,
        rules=[_rule()],
        reward_source={
            "type": "pool",
            "pools": [first.public_id, second.public_id],
            "choice": {"days": 5, "default_brand": wb.public_id},
        },
    )


def test_the_recipient_chooses_a_brand_through_the_api(api, choice_campaign, ozon, wb):
    reward_id = _referred_order(api, 1)
    reward = api.get(f"rewards/{reward_id}").json()
    assert reward["status"] == "approved"
    assert reward["waiting"]["reason"] == "choice"
    choose_by = timezone.datetime.fromisoformat(reward["waiting"]["choose_by"])
    assert timedelta(days=4, hours=23) < choose_by - timezone.now() <= timedelta(days=5)
    assert [b["name"] for b in reward["brand_options"]] == ["Ozon", "Wildberries"]

    chosen = api.post(f"rewards/{reward_id}/brand", {"brand": ozon.public_id}).json()
    assert chosen["status"] == "issued"
    assert chosen["certificate"]["code"].startswith("OZ-")
    late = api.post(f"rewards/{reward_id}/brand", {"brand": wb.public_id})
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "brand_final"


def test_a_brand_not_offered_is_refused(api, choice_campaign, project):
    other = pools.create_brand(project=project, livemode=False, name="Lamoda")
    reward_id = _referred_order(api, 1)
    response = api.post(f"rewards/{reward_id}/brand", {"brand": other.public_id})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "brand"
    missing = api.post(f"rewards/{reward_id}/brand", {"brand": "brd_missing"})
    assert missing.status_code == 404


def test_the_default_brand_applies_after_the_deadline(api, choice_campaign, wb):
    reward_id = _referred_order(api, 1)
    Reward.objects.filter(public_id=reward_id).update(
        choose_by=timezone.now() - timedelta(minutes=1)
    )
    assert waiting.resume_waiting() == 1
    reward = api.get(f"rewards/{reward_id}").json()
    assert reward["brand"] == wb.public_id
    assert reward["certificate"]["code"].startswith("WB-")


def test_the_recipient_chooses_in_the_portal(api, choice_campaign, wb):
    reward_id = _referred_order(api, 1)
    portal = api.get("participants/ref-1").json()["portal_url"].split("://", 1)[1]
    path = portal[portal.index("/") :]
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(path)
    html = page.content.decode()
    assert "Wildberries" in html and "Ozon" in html
    token = page.cookies["csrftoken"].value
    response = browser.post(
        f"{path}/rewards/{reward_id}/brand",
        {"brand": wb.public_id, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?choice=saved")
    after = browser.get(response["Location"]).content.decode()
    assert "WB-" in after
    # Someone else's token cannot choose.
    other = browser.post(
        f"/p/not-a-token/rewards/{reward_id}/brand",
        {"brand": wb.public_id, "csrfmiddlewaretoken": token},
    )
    assert other.status_code == 404


# -- reward bank ---------------------------------------------------------------------------


def test_small_rewards_accumulate_in_the_bank_and_are_paid_in_one_certificate(api):
    create_campaign(
        api,
        rules=[_rule("300.00")],
        reward_source={"type": "internal", "bank": {"min_amount": "1000.00"}},
    )
    code = create_referrer(api, "banker")["referral_code"]
    ids = []
    for n in range(4):
        response = order(api, f"friend-{n}", f"bo-{n}", code=code)
        ids.append(response.json()["rewards"][0]["id"])
    first_three = [api.get(f"rewards/{i}").json() for i in ids[:3]]
    assert {r["status"] for r in first_three} == {"issued"}
    carrier = api.get(f"rewards/{ids[3]}").json()
    assert carrier["status"] == "issued"
    assert carrier["certificate"]["amount"] == "1200.00"
    for member in first_three:
        assert member["banked_into"] == ids[3]
        assert member["certificate"]["id"] == carrier["certificate"]["id"]
    assert Certificate.objects.count() == 1

    # Cancelling one banked reward takes its share off the shared certificate.
    cancelled = api.post(f"rewards/{ids[0]}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert api.get(f"rewards/{ids[3]}").json()["certificate"]["balance"] == "900.00"


def test_the_bank_waits_below_its_minimum(api):
    create_campaign(
        api,
        rules=[_rule("300.00")],
        reward_source={"type": "internal", "bank": {"min_amount": "1000.00"}},
    )
    reward_id = _referred_order(api, 1)
    reward = api.get(f"rewards/{reward_id}").json()
    assert reward["status"] == "approved"
    assert reward["waiting"]["reason"] == "bank"
    assert reward["certificate"] is None


# -- gift tax ------------------------------------------------------------------------------


def test_rewards_past_the_tax_threshold_wait_for_tax_details(api, project):
    project.tax_hold = True
    project.save()
    create_campaign(api, rules=[_rule("1700.00")])
    code = create_referrer(api, "taxed")["referral_code"]
    ids = [order(api, f"f-{n}", f"t-{n}", code=code).json()["rewards"][0]["id"] for n in range(3)]
    statuses = [api.get(f"rewards/{i}").json() for i in ids]
    assert [r["status"] for r in statuses] == ["issued", "issued", "approved"]
    assert statuses[2]["waiting"]["reason"] == "tax_details"
    tax = api.get("participants/taxed/tax").json()
    assert tax == {
        "object": "tax_status",
        "participant": "taxed",
        "year_total": "3400.00",
        "threshold": "4000.00",
        "state": "near",
        "details_recorded": False,
        "held_rewards": 1,
    }
    bad = api.post("participants/taxed/tax_details", {"details": ""})
    assert bad.status_code == 422
    recorded = api.post("participants/taxed/tax_details", {"details": "ИНН 770123456789"}).json()
    assert recorded["details_recorded"] is True
    assert recorded["held_rewards"] == 0
    assert recorded["year_total"] == "3400.00"  # the held reward is not issued in the request
    # It is issued by the handler of the event that recording the details published.
    assert dispatch() >= 1
    assert api.get(f"rewards/{ids[2]}").json()["status"] == "issued"
    tax = api.get("participants/taxed/tax").json()
    assert tax["year_total"] == "5100.00"
    assert tax["state"] == "over"


def test_recorded_tax_details_issue_the_held_reward_once_the_dispatcher_runs(
    api, project, django_capture_on_commit_callbacks
):
    project.tax_hold = True
    project.save()
    create_campaign(api, rules=[_rule("4500.00")])
    reward_id = _referred_order(api, 1)
    with django_capture_on_commit_callbacks(execute=True):
        recorded = api.post("participants/ref-1/tax_details", {"details": "ИНН 770123456789"})
    assert recorded.status_code == 200, recorded.content
    assert recorded.json()["held_rewards"] == 0
    # Not in the request: the reward waits for the worker's dispatcher.
    assert api.get(f"rewards/{reward_id}").json()["waiting"]["reason"] == "tax_details"
    assert not Certificate.objects.filter(reward__public_id=reward_id).exists()
    event = OutboxEvent.objects.get(type="participant.tax_details_recorded")
    person = Participant.objects.get(external_id="ref-1")
    assert event.payload == {"participant": person.public_id, "held": 1}
    assert "770123456789" not in json.dumps(event.payload)

    assert run_queued(dispatch_events) == [OutboxEvent.objects.count()]
    reward = api.get(f"rewards/{reward_id}").json()
    assert reward["status"] == "issued" and reward["waiting"] is None
    event.refresh_from_db()
    assert event.processed_at is not None

    # At least once: the handler run again issues nothing more.
    handlers.resume_tax_held(event)
    event.handlers = {}
    event.processed_at = None
    event.save()
    dispatch()
    assert Certificate.objects.filter(reward__public_id=reward_id).count() == 1
    history = api.get(f"rewards/{reward_id}").json()["history"]
    assert [h["type"] for h in history].count("reward.issued") == 1


def test_recording_tax_details_counts_the_held_rewards_it_resumes(api, project):
    project.tax_hold = True
    project.save()
    create_campaign(api, rules=[_rule("4500.00")])
    _referred_order(api, 1)
    person = Participant.objects.get(external_id="ref-1")
    assert waiting.record_tax_details(person, "ИНН 770123456789") == 1
    assert waiting.resume_held_for_tax(person.pk) == 1
    assert waiting.resume_held_for_tax(person.pk) == 0
    # Details recorded again: nothing is held any more.
    assert waiting.record_tax_details(person, "ИНН 770123456780") == 0


def test_without_the_hold_the_threshold_only_warns(api):
    create_campaign(api, rules=[_rule("2500.00")])
    code = create_referrer(api, "warned")["referral_code"]
    for n in range(2):
        assert order(api, f"w-{n}", f"w-{n}", code=code).json()["rewards"][0]["status"] == "issued"
    assert api.get("participants/warned/tax").json()["state"] == "over"


# -- lifecycle -----------------------------------------------------------------------------


def test_expired_certificates_expire_their_rewards(api):
    create_campaign(api, rules=[_rule()])
    reward_id = _referred_order(api, 1)
    Certificate.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert expire_certificates() == 1
    assert expire_certificates() == 0
    reward = api.get(f"rewards/{reward_id}").json()
    assert reward["status"] == "expired"
    assert reward["certificate"]["status"] == "expired"
    assert reward["history"][-1]["type"] == "reward.expired"


ALL = [s.value for s in RewardStatus]


@pytest.mark.parametrize(("start", "end"), list(product(ALL, ALL)))
def test_every_move_is_allowed_or_refused_by_the_one_table(api, start, end):
    create_campaign(api, rules=[_rule()])
    reward = Reward.objects.get(public_id=_referred_order(api, 1))
    Reward.objects.filter(pk=reward.pk).update(status=start)
    reward.refresh_from_db()
    if end in TRANSITIONS[start]:
        move(reward, end, actor="tester", note="checked")
        reward.refresh_from_db()
        assert reward.status == end
        last = reward.history.last()
        assert (last.from_status, last.to_status, last.actor) == (start, end, "tester")
    else:
        with pytest.raises(Conflict):
            move(reward, end, actor="tester")
        reward.refresh_from_db()
        assert reward.status == start


# -- under concurrency (PostgreSQL: each thread its own connection, as server workers) ------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("on_postgres")
def test_parallel_orders_never_share_a_pool_code(project_keys):
    from tests.conftest import ApiClient
    from tests.fraud.support import parallel

    key = str(project_keys.keys["secret_key_test"])
    api = ApiClient(Client(), key)
    brand = pools.create_brand(project=project_keys.project, livemode=False, name="Ozon")
    pool = _pool(brand, codes=12, prefix="PAR")
    create_campaign(api, rules=[_rule()], reward_source={"type": "pool", "pool": pool.public_id})
    codes = [create_referrer(api, f"p-{n}")["referral_code"] for n in range(16)]

    def send(index: int) -> dict:
        client = ApiClient(Client(), key)
        response = order(client, f"pc-{index}", f"po-{index}", code=codes[index])
        assert response.status_code == 201, response.content
        return response.json()

    parallel(send, 16)
    rewards = list(Reward.objects.select_related("certificate"))
    assert len(rewards) == 16
    issued = [r for r in rewards if r.status == RewardStatus.ISSUED]
    waiting = [r for r in rewards if r.status == RewardStatus.APPROVED]
    assert len(issued) == 12 and len(waiting) == 4
    handed_out = [r.certificate.code_value() for r in issued]
    assert len(set(handed_out)) == 12
    assert {r.waiting for r in waiting} == {"pool_empty"}
    assert PoolCode.objects.filter(status=PoolCodeStatus.ALLOCATED).count() == 12


def test_turning_the_tax_hold_off_releases_held_rewards(api, project):
    project.tax_hold = True
    project.save()
    create_campaign(api, rules=[_rule("4500.00")])
    reward_id = _referred_order(api, 1)
    assert api.get(f"rewards/{reward_id}").json()["waiting"]["reason"] == "tax_details"
    assert waiting.resume_waiting() == 0
    project.tax_hold = False
    project.save()
    assert waiting.resume_waiting() == 1
    assert api.get(f"rewards/{reward_id}").json()["status"] == "issued"
