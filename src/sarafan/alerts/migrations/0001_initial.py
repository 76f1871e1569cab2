"""Alerts leave the anti-fraud app for their own: the model only, in Django's state. The
table keeps its name (`fraud_alert`) and its rows; the console's content type (and with it
the permissions and the admin's history) is relabelled from fraud to alerts."""

import django.db.models.deletion
from django.db import migrations, models

import sarafan.core.ids


def relabel(apps, schema_editor, old: str = "fraud", new: str = "alerts") -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    if not types.filter(app_label=new, model="alert").exists():
        types.filter(app_label=old, model="alert").update(app_label=new)


def relabel_back(apps, schema_editor) -> None:
    relabel(apps, schema_editor, old="alerts", new="fraud")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("campaigns", "0002_campaign_fraud"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("fraud", "0002_default_stop_rules"),
        ("projects", "0002_tax_and_email"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Alert",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("livemode", models.BooleanField(default=False, verbose_name="live mode")),
                        ("public_id", models.CharField(default=sarafan.core.ids._alert_id, max_length=32, unique=True)),
                        ("kind", models.CharField(max_length=40, verbose_name="kind")),
                        ("subject", models.CharField(blank=True, max_length=200, verbose_name="subject")),
                        ("message", models.TextField(verbose_name="message")),
                        ("data", models.JSONField(blank=True, default=dict, verbose_name="details")),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True, verbose_name="raised")),
                        ("acknowledged_at", models.DateTimeField(blank=True, null=True, verbose_name="acknowledged")),
                        ("acknowledged_by", models.CharField(blank=True, max_length=200, verbose_name="acknowledged by")),
                        ("campaign", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="campaigns.campaign", verbose_name="campaign")),
                        ("project", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="projects.project", verbose_name="project")),
                        ("rule", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to="fraud.stoprule", verbose_name="stop-rule")),
                    ],
                    options={
                        "verbose_name": "alert",
                        "verbose_name_plural": "alerts",
                        "db_table": "fraud_alert",
                        "ordering": ["-id"],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel, relabel_back),
    ]
