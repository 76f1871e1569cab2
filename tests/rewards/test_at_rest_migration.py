"""The migrations that take codes, PINs and portal tokens out of clear, run on clear rows."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from sarafan.core.models import IdempotencyRecord
from sarafan.participants.models import Participant, portal_token_hash
from sarafan.rewards.models import Certificate, certificate_code_hash
from sarafan.rewards.schemas import certificate_out
from sarafan.site.idempotency import _replay
from tests.at_rest import rows_holding

BEFORE = [
    ("core", "0004_rate_counters"),
    ("rewards", "0005_recovery_delivery_claims"),
    ("participants", "0004_language_tax_details"),
]
CODE = "SF-ABCD-EFGH-JKMN-PQRS"
PIN = "482913"
TOKEN = "Zx9_portal-token-stored-in-clear-by-an-older-version-0001"
ANSWER = f'{{"certificate": {{"code": "{CODE}", "pin": "{PIN}"}}}}'.encode()
ERASED_TOKEN = "Zx9_portal-token-of-a-person-erased-by-an-older-version-02"


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _clear_rows(apps):
    """Rows as the version before this one wrote them: code, PIN and tokens in clear."""
    now = timezone.now()
    project = apps.get_model("projects", "Project").objects.create(name="Old shop")
    people = apps.get_model("participants", "Participant")
    anna = people.objects.create(
        project=project, external_id="u-7", referral_code="OLDCODE2", portal_token=TOKEN
    )
    people.objects.create(
        project=project,
        external_id="erased-1",
        referral_code="OLDCODE3",
        portal_token=ERASED_TOKEN,
        erased_at=now,
    )
    reward = apps.get_model("rewards", "Reward").objects.create(
        project=project,
        recipient=anna,
        amount=Decimal("500.00"),
        status="issued",
        available_at=now,
        dedupe_key="old",
    )
    apps.get_model("rewards", "Certificate").objects.create(
        project=project,
        reward=reward,
        code=CODE,
        pin=PIN,
        amount=Decimal("500.00"),
        balance=Decimal("500.00"),
        expires_at=now + timedelta(days=365),
    )
    apps.get_model("core", "IdempotencyRecord").objects.create(
        project=project,
        key="redeem-1",
        method="POST",
        path=f"/api/v1/certificates/{CODE}/redeem",
        request_hash="0" * 64,
        status_code=201,
        response_body=ANSWER,
    )


@pytest.mark.django_db(transaction=True)
def test_migrations_hash_and_encrypt_what_older_versions_stored_in_clear():
    try:
        _clear_rows(_migrate(BEFORE))
        assert rows_holding(CODE)  # the test starts from the clear copies
        assert rows_holding(PIN) and rows_holding(TOKEN)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert rows_holding(CODE, PIN, TOKEN, ERASED_TOKEN) == []
    certificate = Certificate.objects.get(code_hash=certificate_code_hash(CODE.lower()))
    assert (certificate.code_value(), certificate.pin_value()) == (CODE, PIN)
    assert certificate_out(certificate)["code"] == CODE
    anna = Participant.objects.get(portal_token_hash=portal_token_hash(TOKEN))
    assert anna.portal_token_value() == TOKEN
    assert Client().get(f"/p/{TOKEN}").status_code == 200
    erased = Participant.objects.get(external_id="erased-1")
    assert erased.portal_token_hash is None and erased.portal_token_encrypted == ""
    # An answer stored under an Idempotency-Key is still replayed as it was given.
    assert _replay(IdempotencyRecord.objects.get(key="redeem-1")).content == ANSWER
