"""Errors recorded before the outbound guard kept a provider's own words (or how the
connection failed) after a fixed prefix; the API and the console showed them to whoever set
the issuer's URL. They are cut back to the fixed reason Sarafan records now."""

import re

from django.db import migrations

# What was written after each fixed prefix: the provider's message or the connection error.
LEAKED = [
    (re.compile(r"HTTP (\d{3}): (?!the provider redirects).*", re.DOTALL), r"HTTP \1."),
    (re.compile(r"The provider refused \(HTTP (\d{3})\): .*", re.DOTALL), r"The provider refused (HTTP \1)."),
    (re.compile(r"Cannot reach the provider: .*", re.DOTALL), "Cannot reach the provider."),
]


def scrubbed(text: str) -> str:
    for pattern, reason in LEAKED:
        text = pattern.sub(reason, text)
    return text


def _scrub(model, field: str, **scope) -> None:
    for row in model.objects.filter(**scope).exclude(**{field: ""}).only("pk", field).iterator():
        clean = scrubbed(getattr(row, field))
        if clean != getattr(row, field):
            model.objects.filter(pk=row.pk).update(**{field: clean})


def scrub(apps, schema_editor) -> None:
    _scrub(apps.get_model("rewards", "Reward"), "last_error")
    _scrub(apps.get_model("rewards", "Issuer"), "last_error")
    _scrub(apps.get_model("fraud", "Alert"), "message", kind__startswith="issuer.")


class Migration(migrations.Migration):
    dependencies = [
        ("fraud", "0002_default_stop_rules"),
        ("rewards", "0003_fulfilment"),
    ]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop, elidable=True)]
