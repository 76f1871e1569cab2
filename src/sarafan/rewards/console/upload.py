"""The console's CSV upload of pool codes: a dry run first, then the confirmed upload.

The first POST checks every row with `pools.upload_codes(dry_run=True)` and stores nothing;
the preview page carries the same text back in its confirmation form, so the second POST
uploads exactly what was previewed (and checks every row again: a code uploaded meanwhile
is reported as a duplicate). Nothing is kept on the server between the two steps, so no
clear code waits in a session or a file. The confirmation posts the text as a form field,
which DATA_UPLOAD_MAX_MEMORY_SIZE bounds; an upload is therefore limited to the smaller of
5 MB and that setting (2 MB by default, as the API's request body).
"""

import re
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminTextareaWidget

from sarafan.core.errors import InvalidRequest, registered

from .. import pools
from ..errors import RewardError
from ..models import CertificatePool
from .shared import money

FILE_LIMIT = 5 * 1024 * 1024
# Room for the other fields of the confirmation form (token, field names, boundaries).
FORM_MARGIN = 16 * 1024
CONFIRM = "confirm"

# Why a row was rejected, by the report's error code.
ROW_ERRORS: dict[str, Any] = {
    "malformed_row": _("A row needs four columns: code, pin, nominal, expiry."),
    "invalid_code": _("The code must be 1 to %(max)d characters long."),
    "invalid_pin": _("The PIN must be at most %(max)d characters long."),
    "invalid_nominal": _("The nominal is not a number."),
    "wrong_nominal": _("The nominal must be the pool's denomination, %(denomination)s."),
    "invalid_expiry": _("The expiry is not a date such as 2027-12-31 (or a date and time)."),
    "expired": _("The expiry date has passed."),
    "duplicate_in_file": _("The same code is higher up in the file."),
    "duplicate_code": _("This code was uploaded before."),
}
# Why the whole file was refused.
SEMICOLONS = _(
    "The columns are separated by semicolons; save the file with commas (CSV UTF-8, "
    "comma-delimited)."
)


def upload_limit() -> int:
    body = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return FILE_LIMIT if body is None else min(FILE_LIMIT, body - FORM_MARGIN)


def too_big(size: int) -> forms.ValidationError:
    return forms.ValidationError(
        _("The CSV is %(size)s; at most %(limit)s can be uploaded at once: split it into parts.")
        % {"size": filesizeformat(size), "limit": filesizeformat(upload_limit())}
    )


def decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise forms.ValidationError(
            _("The file is not UTF-8 text: save it as “CSV UTF-8” and upload it again.")
        ) from None
    if "\x00" in text:
        raise forms.ValidationError(_("The file is not a CSV text file."))
    return text


class UploadForm(forms.Form):
    """A CSV file, or the same text pasted."""

    file = forms.FileField(
        label=_("CSV file"),
        required=False,
        widget=UnfoldAdminFileFieldWidget,
        help_text=_(
            "UTF-8, comma-separated, with the header code,pin,nominal,expiry; the expiry is a "
            "date such as 2027-12-31 or empty."
        ),
    )
    text = forms.CharField(
        label=_("Or paste the CSV here"),
        required=False,
        strip=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 8, "spellcheck": "false"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        upload, text = data.get("file"), data.get("text") or ""
        if upload is not None and text.strip():
            raise forms.ValidationError(_("Choose a file or paste the text, not both."))
        if upload is not None:
            if upload.size > upload_limit():
                raise too_big(upload.size)
            data["content"] = decode(upload.read())
        elif text.strip():
            size = len(text.encode())
            if size > upload_limit():
                raise too_big(size)
            data["content"] = text
        else:
            raise forms.ValidationError(_("Choose a CSV file or paste its text."))
        return data


class ConfirmForm(forms.Form):
    """The previewed text, posted back as it was."""

    content = forms.CharField(strip=False, widget=forms.Textarea(attrs={"hidden": True}))

    def clean_content(self) -> str:
        content = str(self.cleaned_data["content"])
        size = len(content.encode())
        if size > upload_limit():
            raise too_big(size)
        return content


def row_errors(report: dict[str, Any], pool: CertificatePool) -> list[dict[str, Any]]:
    """The report's rejected rows with the reason in the reader's language."""
    params = {
        "invalid_code": {"max": pools.MAX_CODE_LENGTH},
        "invalid_pin": {"max": pools.MAX_PIN_LENGTH},
        "wrong_nominal": {"denomination": money(pool.denomination, pool.currency)},
    }
    rows = []
    for error in report["errors"]:
        code = error["error"]
        text = ROW_ERRORS.get(code)
        message = str(text % params[code] if code in params else text) if text else error["message"]
        rows.append({**error, "text": message})
    return rows


def file_error(exc: InvalidRequest, content: str) -> str:
    first_line = content.lstrip("\ufeff").split("\n", 1)[0]
    if exc.code == RewardError.CSV_HEADER and ";" in first_line and "," not in first_line:
        return str(SEMICOLONS)
    code = registered(exc.code)
    if code is None:
        return exc.message
    text = code.message
    if code == RewardError.TOO_MANY_ROWS:
        return str(text % {"max": number_format(pools.MAX_ROWS, force_grouping=True)})
    line = re.search(r"line (\d+)", exc.message)
    return f"{text} ({line.group(0)})" if line else str(text)


def upload_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: the form; POST: the dry run's preview, or with `confirm` the upload's report."""
    pool = model_admin.get_object(request, unquote(object_id))
    if pool is None:
        gone: HttpResponse = model_admin._get_obj_does_not_exist_redirect(
            request, model_admin.opts, object_id
        )
        return gone
    if not model_admin.may_upload(request):
        raise PermissionDenied
    form: forms.Form = UploadForm()
    confirm: ConfirmForm | None = None
    report: dict[str, Any] | None = None
    stage = "form"
    if request.method == "POST" and CONFIRM in request.POST:
        form = ConfirmForm(request.POST)
        if form.is_valid():
            content = form.cleaned_data["content"]
            try:
                report = pools.upload_codes(pool=pool, csv_text=content, dry_run=False)
            except InvalidRequest as exc:
                form.add_error(None, file_error(exc, content))
            else:
                stage = "report"
                _tell(model_admin, request, report)
        if stage != "report":
            # Only a tampered or oversized confirmation gets here: start again from the form.
            errors = form.non_field_errors() + form.errors.get("content", [])
            form = UploadForm()
            for error in errors:
                form.add_error(None, error)
    elif request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            content = form.cleaned_data["content"]
            try:
                report = pools.upload_codes(pool=pool, csv_text=content, dry_run=True)
            except InvalidRequest as exc:
                form.add_error(None, file_error(exc, content))
            else:
                stage = "preview"
                confirm = ConfirmForm(initial={"content": content})
    here = reverse("admin:rewards_certificatepool_upload", args=[pool.pk])
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": pool,
        "title": _("Upload codes"),
        "subtitle": str(pool),
        "pool": pool,
        "denomination": money(pool.denomination, pool.currency),
        "stock": pools.stock(pool),
        "stage": stage,
        "form": form,
        "confirm": confirm,
        "report": report,
        "rows": row_errors(report, pool) if report else [],
        "more_errors": report["rejected"] - len(report["errors"]) if report else 0,
        "limit": filesizeformat(upload_limit()),
        "here": here,
        "pool_url": reverse("admin:rewards_certificatepool_change", args=[pool.pk]),
        "batch_url": (
            f"{reverse('admin:rewards_poolcode_changelist')}?pool={pool.pk}&batch={report['batch']}"
            if report and report.get("batch")
            else ""
        ),
    }
    return TemplateResponse(request, "admin/rewards/pool_upload.html", context)


def _tell(model_admin: Any, request: HttpRequest, report: dict[str, Any]) -> None:
    stored, rejected = report["accepted"], report["rejected"]
    text = ngettext(
        "%(count)d code added to the pool.", "%(count)d codes added to the pool.", stored
    ) % {"count": stored}
    if rejected:
        text += " " + ngettext("%(count)d row rejected.", "%(count)d rows rejected.", rejected) % {
            "count": rejected
        }
    model_admin.message_user(request, text, messages.SUCCESS if stored else messages.WARNING)
