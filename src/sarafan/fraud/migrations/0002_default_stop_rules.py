"""Existing projects get the default stop-rules that new projects are created with."""

from decimal import Decimal

from django.db import migrations

DEFAULTS = (
    ("velocity_ip", "10", 60, ["hold", "alert"]),
    ("velocity_device", "3", 60, ["hold", "alert"]),
    ("velocity_referrer", "10", 60, ["hold", "alert"]),
    ("fast_conversion", "30", 60, ["hold"]),
    ("conversion_spike", "5", 7 * 24 * 60, ["hold", "alert"]),
    ("budget_burn", "3", 24 * 60, ["alert", "pause"]),
)


def add_defaults(apps, schema_editor):
    from sarafan.core.ids import new_public_id

    Project = apps.get_model("projects", "Project")
    StopRule = apps.get_model("fraud", "StopRule")
    for project in Project.objects.all():
        if StopRule.objects.filter(project=project).exists():
            continue
        StopRule.objects.bulk_create(
            StopRule(
                public_id=new_public_id("srl"),
                project=project,
                livemode=livemode,
                kind=kind,
                threshold=Decimal(threshold),
                window_minutes=window,
                actions=actions,
            )
            for livemode in (False, True)
            for kind, threshold, window, actions in DEFAULTS
        )


class Migration(migrations.Migration):
    dependencies = [("fraud", "0001_initial"), ("projects", "0001_initial")]

    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
