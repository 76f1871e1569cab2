"""Alerts moved to their own app (alerts/migrations/0001): fraud forgets the model in
Django's state only; the table and its rows stay, now the alerts app's."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("fraud", "0002_default_stop_rules"),
        # It reads fraud's Alert (a data migration): it runs while the model is still here.
        ("rewards", "0004_scrub_provider_messages"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Alert")],
            database_operations=[],
        ),
    ]
