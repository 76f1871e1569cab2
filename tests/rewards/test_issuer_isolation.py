"""One project's provider that never answers stalls nobody: retries answer at once and
queue the call for the worker, and the worker runs at most SARAFAN_OUTBOUND_PER_PROJECT
calls of one project at a time, putting the others off while other projects go on."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from sarafan.core.models import OutboundSlot
from sarafan.projects.services import create_project
from sarafan.rewards import external, issuers
from sarafan.rewards.models import Reward
from tests.conftest import ApiClient
from tests.factories import create_campaign, create_referrer, order
from tests.processes import wait_until
from tests.receivers import receiver

RULE = {
    "recipient": "referrer",
    "trigger": "first_order",
    "kind": "fixed",
    "amount": "750.00",
    "hold_days": 0,
}
# Generous: a loaded two-core machine; the test releases the hanging provider itself.
DEADLINE = 120.0


def _shop(name: str, url: str, rewards: int, **issuer: Any) -> tuple[ApiClient, list[int]]:
    project, keys = create_project(name=name)
    api = ApiClient(Client(), keys["secret_key_test"])
    made = issuers.create_issuer(project=project, livemode=False, name=name, url=url, **issuer)
    create_campaign(api, rules=[RULE], reward_source={"type": "issuer", "issuer": made.public_id})
    ids = []
    for n in range(rewards):
        code = create_referrer(api, f"r-{n}")["referral_code"]
        ids.append(order(api, f"c-{n}", f"o-{n}", code=code).json()["rewards"][0]["id"])
    return api, [Reward.objects.get(public_id=i).pk for i in ids]


@pytest.mark.django_db
def test_retries_answer_at_once_and_leave_the_call_to_the_worker(settings):
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["127.0.0.1"]
    with receiver() as hanging:
        hanging.hang.clear()  # never answers while the test runs
        api, pks = _shop("Stalled", f"http://127.0.0.1:{hanging.port}", 12, timeout_seconds=30)
        Reward.objects.filter(pk__in=pks).update(waiting="issuer_failed")
        for reward in Reward.objects.filter(pk__in=pks):
            response = api.post(f"rewards/{reward.public_id}/retry")
            assert response.status_code == 200
            assert response.json()["waiting"]["reason"] == "issuer"
        assert hanging.requests == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("on_postgres")
def test_a_hanging_provider_holds_only_its_projects_slots(settings, provider):
    settings.SARAFAN_OUTBOUND_ALLOW_HOSTS = ["127.0.0.1"]
    settings.SARAFAN_OUTBOUND_PER_PROJECT = 2
    # Long enough that the hanging calls are still waiting when the test looks; the test
    # ends them by letting the provider answer.
    settings.SARAFAN_OUTBOUND_MAX_TIMEOUT_SECONDS = 600
    with receiver() as hanging:
        hanging.hang.clear()
        hanging.status = 503
        stalled, pks = _shop("Stalled", f"http://127.0.0.1:{hanging.port}", 14, timeout_seconds=600)
        other, [other_pk] = _shop("Other", provider.url, 1, token=provider.token)
        Reward.objects.filter(pk__in=pks).update(waiting="issuer_failed")
        public = dict(Reward.objects.filter(pk__in=pks).values_list("pk", "public_id"))

        def retry(pk: int) -> int:
            try:
                client = ApiClient(Client(), stalled.key)
                return int(client.post(f"rewards/{public[pk]}/retry").status_code)
            finally:
                connection.close()

        def attempt(pk: int) -> str:
            try:
                return external.attempt_issuer(pk)
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=12) as pool:
            # 12 retries at once, as many as a server has threads: all answer, none calls.
            assert list(pool.map(retry, pks[:12])) == [200] * 12
            assert hanging.requests == []
            # Two workers take the stalled project's slots and wait on its provider.
            hung = [pool.submit(attempt, pk) for pk in pks[:2]]
            wait_until(
                lambda: len(hanging.requests) == 2,
                timeout=DEADLINE,
                message=lambda: f"{len(hanging.requests)} calls reached the provider",
            )
            # A third of that project is put off, not run, and not dropped.
            before = timezone.now()
            assert external.attempt_issuer(pks[2]) == "busy"
            deferred = Reward.objects.get(pk=pks[2])
            assert (deferred.waiting, deferred.attempts) == ("issuer", 0)
            assert deferred.next_attempt_at is not None and deferred.next_attempt_at > before
            # Another project is issued meanwhile, and its API answers.
            assert external.attempt_issuer(other_pk) == "issued"
            assert other.get("rewards").status_code == 200
            assert len(hanging.requests) == 2
            hanging.hang.set()
            assert [future.result(timeout=DEADLINE) for future in hung] == ["retry", "retry"]
        # The slots were given back: the deferred reward gets its call once due.
        assert not OutboundSlot.objects.filter(held_until__gt=timezone.now()).exists()
        Reward.objects.filter(pk=pks[2]).update(next_attempt_at=timezone.now())
        assert external.attempt_issuer(pks[2]) == "retry"
        assert len(hanging.requests) == 3
