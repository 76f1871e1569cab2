from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FraudConfig(AppConfig):
    name = "sarafan.fraud"
    label = "fraud"
    verbose_name = _("Anti-fraud")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from sarafan.projects.models import Project
        from sarafan.projects.services import project_created

        from .config import forget_lists
        from .models import BlockRule, StopRule
        from .stoprules import create_default_rules

        def changed(sender: object, instance: BlockRule | StopRule, **kwargs: object) -> None:
            forget_lists(instance.project_id, instance.livemode)

        # weak=False: the receiver is a local function, which nothing else keeps alive.
        for model in (BlockRule, StopRule):
            name = model.__name__
            post_save.connect(changed, sender=model, weak=False, dispatch_uid=f"fraud-{name}")
            post_delete.connect(changed, sender=model, weak=False, dispatch_uid=f"fraud-{name}-d")

        def created(sender: object, project: Project, **kwargs: object) -> None:
            create_default_rules(project=project)

        # A new project gets the default stop-rules in its creating transaction.
        project_created.connect(created, weak=False, dispatch_uid="fraud-default-stop-rules")
