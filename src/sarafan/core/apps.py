from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "sarafan.core"
    label = "core"
    verbose_name = "Sarafan"
