"""The console's own pages: the dashboard template, and users, groups and background task
results re-registered in the Unfold style."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

# Unfold's own admin/index.html comes first on the template path; the dashboard extends it.
admin.site.index_template = "console/index.html"
admin.site.index_title = _("Dashboard")

User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.unregister(DBTaskResult)


@admin.register(User)
class UserAdmin(DjangoUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin, ModelAdmin):
    pass


@admin.register(DBTaskResult)
class TaskResultAdmin(DBTaskResultAdmin, ModelAdmin):
    """Background task runs, read-only as django-tasks-db makes them."""

    search_fields = ("id", "task_path")
