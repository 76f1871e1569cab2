"""Invites moved from tracking to referrals: an existing database keeps its rows, still found
by attribution's lookup, and the content type under its new app."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from sarafan.referrals.models import Invite
from sarafan.referrals.services import email_hash

BEFORE = [("referrals", "0002_referral_clicked_at_referral_risk_details")]  # and tracking 0004


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    applied = MigrationLoader(connection).applied_migrations
    return executor.loader.project_state(list(applied)).apps


@pytest.mark.django_db(transaction=True)
def test_invites_written_before_the_move_survive_it():
    try:
        apps = _migrate(BEFORE)
        content_type = ContentType.objects.get(app_label="tracking", model="invite").pk
        project = apps.get_model("projects", "Project").objects.create(name="Old shop")
        anna = apps.get_model("participants", "Participant").objects.create(
            project=project, external_id="u-7", referral_code="OLDCODE2"
        )
        old = apps.get_model("tracking", "Invite").objects.create(
            project=project, referrer=anna, email_hash=email_hash("friend@example.ru")
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    invite = Invite.objects.get(pk=old.pk)
    assert (invite.referrer_id, invite.channel) == (anna.pk, "email")
    found = Invite.objects.filter(
        project_id=project.pk, livemode=False, email_hash=email_hash("Friend@Example.ru")
    )
    assert list(found) == [invite]
    ContentType.objects.clear_cache()
    moved = ContentType.objects.get_for_model(Invite)
    assert (moved.pk, moved.app_label) == (content_type, "referrals")
