from importlib import import_module
from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.module_loading import module_has_submodule


def _ensure_partitions(*, using: str, **kwargs: Any) -> None:
    """`sarafan migrate` ends with this month's and the coming months' partitions in place."""
    from .partitions import ensure_partitions

    ensure_partitions(using=using)


class CoreConfig(AppConfig):
    name = "sarafan.core"
    label = "core"
    verbose_name = "Sarafan"

    def ready(self) -> None:
        # post_migrate is sent for every app after migrate (and flush); this sender: once.
        post_migrate.connect(_ensure_partitions, sender=self, dispatch_uid="core.partitions")
        # Every app's error codes (<app>/errors.py) are declared before anything looks one up.
        for app in apps.get_app_configs():
            if app.name.startswith("sarafan.") and module_has_submodule(app.module, "errors"):
                import_module(f"{app.name}.errors")
