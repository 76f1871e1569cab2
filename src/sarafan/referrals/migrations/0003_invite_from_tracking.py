"""E-mail invites are referral evidence: the model moves here from tracking, in Django's
state only. The table keeps its name (`tracking_invite`), its index and its rows; the
content type is relabelled from tracking to referrals."""

import django.db.models.deletion
from django.db import migrations, models


def relabel(apps, schema_editor, old: str = "tracking", new: str = "referrals") -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    if not types.filter(app_label=new, model="invite").exists():
        types.filter(app_label=old, model="invite").update(app_label=new)


def relabel_back(apps, schema_editor) -> None:
    relabel(apps, schema_editor, old="referrals", new="tracking")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("participants", "0001_initial"),
        ("projects", "0001_initial"),
        ("referrals", "0002_referral_clicked_at_referral_risk_details"),
        ("tracking", "0004_event_signals"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Invite",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("livemode", models.BooleanField(default=False, verbose_name="live mode")),
                        ("email_hash", models.CharField(max_length=64)),
                        ("channel", models.CharField(default="email", max_length=20)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("project", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="projects.project", verbose_name="project")),
                        ("referrer", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="participants.participant")),
                    ],
                    options={
                        "db_table": "tracking_invite",
                        "indexes": [models.Index(fields=["project", "livemode", "email_hash", "created_at"], name="tracking_in_project_77c620_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel, relabel_back),
    ]
