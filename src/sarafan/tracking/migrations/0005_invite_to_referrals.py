"""Invites moved to referrals (referrals/migrations/0003): tracking forgets the model in
Django's state only; the table and its rows stay, now referrals'."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0003_invite_from_tracking"),
        ("tracking", "0004_event_signals"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Invite")],
            database_operations=[],
        ),
    ]
