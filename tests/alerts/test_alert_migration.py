"""Alerts moved from the anti-fraud app to their own: an existing database keeps its rows,
their stop-rule, and the content type (permissions, the admin's history) under its new app."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse

from sarafan.alerts.models import Alert
from sarafan.alerts.selectors import open_alerts

BEFORE = [("alerts", None)]  # and with it fraud's 0003: the alerts still fraud's


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    applied = MigrationLoader(connection).applied_migrations
    return executor.loader.project_state(list(applied)).apps


@pytest.mark.django_db(transaction=True)
def test_alerts_raised_before_the_move_survive_it():
    try:
        apps = _migrate(BEFORE)
        assert ContentType.objects.filter(app_label="fraud", model="alert").exists()
        content_type = ContentType.objects.get(app_label="fraud", model="alert").pk
        project = apps.get_model("projects", "Project").objects.create(name="Old shop")
        rule = apps.get_model("fraud", "StopRule").objects.create(
            project=project, kind="velocity_ip", threshold="10", actions=["alert"]
        )
        old = apps.get_model("fraud", "Alert").objects.create(
            project=project,
            rule=rule,
            kind="fraud.anomaly",
            subject="ip:1",
            message="Too many customers from one IP address",
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    alert = Alert.objects.get(pk=old.pk)
    assert (alert.public_id, alert.rule_id, alert.subject, alert.message) == (
        old.public_id,
        rule.pk,
        "ip:1",
        "Too many customers from one IP address",
    )
    assert list(open_alerts(project_id=project.pk, livemode=False)) == [alert]
    ContentType.objects.clear_cache()
    moved = ContentType.objects.get_for_model(Alert)
    assert (moved.pk, moved.app_label) == (content_type, "alerts")
    assert not ContentType.objects.filter(app_label="fraud", model="alert").exists()


def test_old_console_links_to_alerts_redirect(admin_client: Client):
    old = admin_client.get("/console/fraud/alert/?acknowledged=no")
    assert old.status_code == 301
    assert old["Location"] == reverse("admin:alerts_alert_changelist") + "?acknowledged=no"
    assert admin_client.get(old["Location"]).status_code == 200
    assert admin_client.get("/console/fraud/alert/7/change/")["Location"] == reverse(
        "admin:alerts_alert_change", args=[7]
    )
