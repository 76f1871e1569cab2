"""Sarafan's own certificate codes and PINs were stored in clear. A code becomes a keyed hash
(what /certificates/<code> finds it by) plus an encrypted copy, a PIN an encrypted copy only,
and the clear columns go. A delivery's address may now be blank: erasure blanks it."""

from django.db import migrations, models

from sarafan.core.crypto import decrypt, encrypt
from sarafan.core.hashing import keyed_hash

# As rewards.models.certificate_code_hash at the time of this migration.
PURPOSE = "certificate_code"
BATCH = 500


def _code_hash(code: str) -> str:
    return keyed_hash(code.strip().upper(), purpose=PURPOSE)


def hide(apps, schema_editor) -> None:
    """Hash and encrypt every clear code, encrypt every clear PIN, then blank the clear copies."""
    certificate = apps.get_model("rewards", "Certificate")
    rows = certificate.objects.filter(models.Q(code__isnull=False) | ~models.Q(pin=""))
    changed = []
    for row in rows.only("pk", "code", "pin", "code_encrypted", "pin_encrypted").iterator():
        if row.code:
            row.code_hash = _code_hash(row.code)
            row.code_encrypted = encrypt(row.code.strip().upper())
        if row.pin:
            row.pin_encrypted = encrypt(row.pin)
        row.code, row.pin = None, ""
        changed.append(row)
        if len(changed) >= BATCH:
            certificate.objects.bulk_update(
                changed, ["code_hash", "code_encrypted", "pin_encrypted", "code", "pin"]
            )
            changed = []
    if changed:
        certificate.objects.bulk_update(
            changed, ["code_hash", "code_encrypted", "pin_encrypted", "code", "pin"]
        )


def reveal(apps, schema_editor) -> None:
    """Back to clear columns (a rollback needs the keys the codes were encrypted under)."""
    certificate = apps.get_model("rewards", "Certificate")
    rows = certificate.objects.filter(code_hash__isnull=False)
    for row in rows.only("pk", "code_encrypted", "pin_encrypted").iterator():
        certificate.objects.filter(pk=row.pk).update(
            code=decrypt(row.code_encrypted),
            pin=decrypt(row.pin_encrypted) if row.pin_encrypted else "",
            code_encrypted="",
            pin_encrypted="",
        )


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0005_recovery_delivery_claims"),
    ]

    operations = [
        migrations.AddField(
            model_name="certificate",
            name="code_hash",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.RunPython(hide, reveal),
        migrations.RemoveField(model_name="certificate", name="code"),
        migrations.RemoveField(model_name="certificate", name="pin"),
        migrations.AlterField(
            model_name="delivery",
            name="to",
            field=models.EmailField(blank=True, max_length=254, verbose_name="to"),
        ),
    ]
