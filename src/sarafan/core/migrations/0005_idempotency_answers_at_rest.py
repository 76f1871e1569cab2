"""Stored Idempotency-Key answers were kept in clear, and a manual reward's or a redemption's
answer carries the certificate's code (and PIN), its path the code: the answers are
encrypted and the paths masked, as the requests now store them."""

from django.db import migrations

from sarafan.core.crypto import decrypt_bytes, encrypt_bytes
from sarafan.core.logging import mask_text


def hide(apps, schema_editor) -> None:
    record = apps.get_model("core", "IdempotencyRecord")
    for row in record.objects.only("pk", "path", "response_body").iterator():
        body = bytes(row.response_body) if row.response_body is not None else None
        record.objects.filter(pk=row.pk).update(
            path=mask_text(row.path)[:255],
            response_body=encrypt_bytes(body) if body is not None else None,
        )


def reveal(apps, schema_editor) -> None:
    """Back to clear answers (the masked paths stay masked: nothing reads them)."""
    record = apps.get_model("core", "IdempotencyRecord")
    for row in record.objects.exclude(response_body=None).only("pk", "response_body").iterator():
        body = decrypt_bytes(bytes(row.response_body))
        record.objects.filter(pk=row.pk).update(response_body=body)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_rate_counters"),
    ]

    operations = [migrations.RunPython(hide, reveal, elidable=True)]
