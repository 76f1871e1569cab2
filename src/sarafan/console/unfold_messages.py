"""Interface strings of django-unfold, listed so that sarafan/locale translates them.

Unfold ships no Russian catalog, so without these its buttons, filters and search would
stay English in a Russian console. Nothing imports this module: `makemessages` reads it.
When Unfold is upgraded, compare with its templates (strings Django's admin already
translates are left out).
"""

from django.utils.translation import gettext_noop, ngettext_lazy

UNFOLD_MESSAGES = (
    gettext_noop("Select record"),
    gettext_noop("Select action"),
    gettext_noop("Value"),
    gettext_noop("From"),
    gettext_noop("To"),
    gettext_noop("Date from"),
    gettext_noop("Date to"),
    gettext_noop("Not enough data."),
    gettext_noop("Select action to run"),
    gettext_noop(
        'Raw passwords are not stored, so there is no way to see this user’s password, but you can change the password using <a href="{}" class="text-primary-600 dark:text-primary-500">this form</a>.'
    ),
    gettext_noop("Select value"),
    gettext_noop("Run the selected action"),
    gettext_noop("After you've created a user, you’ll be able to edit more user options."),
    gettext_noop(
        "Deleting the %(object_name)s '%(escaped_object)s' would result in deleting related objects, but your account doesn't have permission to delete the following types of objects:"
    ),
    gettext_noop(
        "Deleting the %(object_name)s '%(escaped_object)s' would require deleting the following protected related objects:"
    ),
    gettext_noop(
        'Are you sure you want to delete the %(object_name)s "%(escaped_object)s"? All of the following related items will be deleted:'
    ),
    gettext_noop("Welcome back to"),
    gettext_noop("Forgotten your password or username?"),
    gettext_noop("Type to search"),
    gettext_noop("You have been successfully logged out from the administration"),
    gettext_noop("No data"),
    gettext_noop("All applications"),
    gettext_noop("True"),
    gettext_noop("False"),
    gettext_noop("Apply Filters"),
    gettext_noop("Filters"),
    gettext_noop("Navigate"),
    gettext_noop("Select"),
    gettext_noop("Recent searches"),
    gettext_noop("Nothing matched your search"),
    ngettext_lazy(
        '\n            Found <span class="font-medium text-important">%(counter)s</span> result in %(time)s seconds\n        ',
        '\n            Found <span class="font-medium text-important">%(counter)s</span> results in %(time)s seconds\n        ',
        1,
    ),
    gettext_noop("Cancel"),
    gettext_noop("Submit"),
    gettext_noop("Record picture"),
    gettext_noop("This item will be deleted."),
    gettext_noop("Click to cancel"),
    gettext_noop("No results found"),
    gettext_noop("This page yielded into no results."),
    gettext_noop("Reset filters"),
    gettext_noop("Image preview"),
    gettext_noop("Click to download"),
    gettext_noop("Go back"),
    gettext_noop("Previous"),
    gettext_noop("Next"),
    gettext_noop("Search apps and models..."),
    gettext_noop("Available shortcuts"),
    gettext_noop("Global shortcuts"),
    gettext_noop("Open command tool"),
    gettext_noop("Open shortcuts list"),
    gettext_noop("Toggle sidebar"),
    gettext_noop("Toggle dark/light mode"),
    gettext_noop("Changelist shortcuts"),
    gettext_noop("Toggle filter"),
    gettext_noop("Create new record"),
    gettext_noop("Command tool shortcuts"),
    gettext_noop("Open selection"),
    gettext_noop("Open selection in new tab"),
    gettext_noop("General"),
    gettext_noop("Light"),
    gettext_noop("Dark"),
    gettext_noop("System"),
    gettext_noop("Return to site"),
    gettext_noop("Choose file to upload"),
    gettext_noop("Toggle password visibility"),
    gettext_noop("Date"),
    gettext_noop("Select currency"),
)
