"""Decision is moderation's now: state only (the table stays), and its content type, with
the permissions and admin log entries that refer to it, is relabelled to moderation."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def _relabel(apps: Apps, schema_editor: BaseDatabaseSchemaEditor, old: str, new: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    types = content_type.objects.using(db)
    if not types.filter(app_label=new, model="decision").exists():
        types.filter(app_label=old, model="decision").update(app_label=new)


def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _relabel(apps, schema_editor, "fraud", "moderation")


def backwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _relabel(apps, schema_editor, "moderation", "fraud")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("fraud", "0003_alert_to_alerts"),
        ("moderation", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Decision")],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
