"""Portal tokens were stored in clear. A token becomes its SHA-256 (what /p/<token> finds the
participant by) plus an encrypted copy (the portal_url the API and the e-mails give again),
and the clear column goes; an erased participant keeps neither."""

import hashlib
import secrets

from django.db import migrations, models

from sarafan.core.crypto import decrypt, encrypt

BATCH = 500


def hide(apps, schema_editor) -> None:
    participant = apps.get_model("participants", "Participant")
    rows = participant.objects.filter(portal_token__isnull=False)
    changed = []
    for row in rows.only("pk", "portal_token", "erased_at").iterator():
        if row.portal_token and row.erased_at is None:
            row.portal_token_hash = hashlib.sha256(row.portal_token.encode()).hexdigest()
            row.portal_token_encrypted = encrypt(row.portal_token)
        row.portal_token = None
        changed.append(row)
        if len(changed) >= BATCH:
            participant.objects.bulk_update(
                changed, ["portal_token_hash", "portal_token_encrypted", "portal_token"]
            )
            changed = []
    if changed:
        participant.objects.bulk_update(
            changed, ["portal_token_hash", "portal_token_encrypted", "portal_token"]
        )


def reveal(apps, schema_editor) -> None:
    """Back to a clear column (erased participants get a fresh token no one holds)."""
    participant = apps.get_model("participants", "Participant")
    for row in participant.objects.only("pk", "portal_token_encrypted").iterator():
        token = row.portal_token_encrypted
        participant.objects.filter(pk=row.pk).update(
            portal_token=decrypt(token) if token else secrets.token_urlsafe(32)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("participants", "0004_language_tax_details"),
    ]

    operations = [
        migrations.AddField(
            model_name="participant",
            name="portal_token_hash",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="participant",
            name="portal_token_encrypted",
            field=models.TextField(blank=True),
        ),
        # Nullable while its values move, so the column can be blanked (and, going back,
        # re-added to existing rows before they get their tokens again).
        migrations.AlterField(
            model_name="participant",
            name="portal_token",
            field=models.CharField(max_length=64, null=True, unique=True),
        ),
        migrations.RunPython(hide, reveal),
        migrations.RemoveField(model_name="participant", name="portal_token"),
    ]
