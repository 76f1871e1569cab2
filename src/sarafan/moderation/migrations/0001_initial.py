"""Decision moves here from fraud: state only, the table stays fraud_decision."""

import django.db.models.deletion
from django.db import migrations, models

import sarafan.core.ids


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("fraud", "0002_default_stop_rules"),
        ("projects", "0001_initial"),
        ("referrals", "0002_referral_clicked_at_referral_risk_details"),
        ("rewards", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Decision",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("livemode", models.BooleanField(default=False, verbose_name="live mode")),
                        (
                            "public_id",
                            models.CharField(
                                default=sarafan.core.ids._decision_id, max_length=32, unique=True
                            ),
                        ),
                        (
                            "action",
                            models.CharField(
                                choices=[("approve", "approve"), ("reject", "reject")],
                                max_length=10,
                                verbose_name="decision",
                            ),
                        ),
                        ("actor", models.CharField(max_length=200, verbose_name="by")),
                        ("reason", models.CharField(blank=True, max_length=500, verbose_name="why")),
                        ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="decided")),
                        (
                            "reversed_at",
                            models.DateTimeField(blank=True, null=True, verbose_name="reversed"),
                        ),
                        (
                            "reversed_by",
                            models.CharField(blank=True, max_length=200, verbose_name="reversed by"),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="projects.project",
                                verbose_name="project",
                            ),
                        ),
                        (
                            "referral",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="decisions",
                                to="referrals.referral",
                                verbose_name="referral",
                            ),
                        ),
                        (
                            "reward",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="decisions",
                                to="rewards.reward",
                                verbose_name="reward",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "moderation decision",
                        "verbose_name_plural": "moderation decisions",
                        "db_table": "fraud_decision",
                        "ordering": ["-id"],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
