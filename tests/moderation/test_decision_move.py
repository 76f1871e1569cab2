"""Decision moved from fraud to moderation: the rows, the permissions and the old console
links survive the upgrade."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from sarafan.moderation.models import Decision
from sarafan.projects.services import create_project

BEFORE = [("fraud", "0002_default_stop_rules"), ("moderation", None)]


def _migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.mark.django_db(transaction=True)
def test_a_decision_written_before_the_move_is_read_after_it():
    project, _keys = create_project(name="Shop")
    permission = Permission.objects.get(
        content_type__app_label="moderation", codename="change_decision"
    )
    leaf = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = _migrate(BEFORE).loader.project_state(BEFORE[:1]).apps
        assert ContentType.objects.filter(app_label="fraud", model="decision").exists()
        old.get_model("fraud", "Decision").objects.create(
            project_id=project.pk,
            livemode=False,
            public_id="dec_before",
            action="reject",
            actor="admin",
            reason="одна семья",
        )
    finally:
        _migrate(leaf)
    decision = Decision.objects.get(public_id="dec_before")
    assert (decision.action, decision.actor, decision.reason) == ("reject", "admin", "одна семья")
    assert not ContentType.objects.filter(app_label="fraud", model="decision").exists()
    # The same permission row, so groups that had it keep it.
    assert Permission.objects.get(pk=permission.pk).content_type.app_label == "moderation"


def test_old_console_links_to_decisions_redirect(admin_client: Client):
    old = admin_client.get("/console/fraud/decision/?reversed=no")
    assert old.status_code == 301
    assert old["Location"] == reverse("admin:moderation_decision_changelist") + "?reversed=no"
    assert admin_client.get(old["Location"]).status_code == 200
    assert admin_client.get("/console/fraud/decision/7/change/")["Location"] == reverse(
        "admin:moderation_decision_change", args=[7]
    )
