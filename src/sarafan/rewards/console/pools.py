"""Console pages of the certificate catalogue: brands, pools with their stock, pool codes.

Brands and pools are made by rewards.pools (create_brand, create_pool) in the console's
current project and mode; codes arrive by CSV upload (upload.py) and are only
listed here, by the last characters of the code: the clear code is never shown in a list.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Count, Min, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from sarafan.console.forms import check_with_service
from sarafan.console.kit import label, local_time
from sarafan.console.options import LINK_CLASSES, ReadOnlyAdmin, public_id, shown
from sarafan.core.ids import row_id
from sarafan.core.money import is_currency_code
from sarafan.site.scope import Scope, current_scope

from .. import pools
from ..models import Brand, CertificatePool, PoolCode, PoolCodeStatus
from .shared import UPLOAD_CODES, masked_code, money, scope_bar, scope_of
from .upload import upload_view

NO_PROJECT = _("There is no project yet: create one first.")


def adopt(obj: Any, saved: Any) -> None:
    """Copy a row a service made onto the admin's unsaved instance (for its log and redirect)."""
    for field in type(saved)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False


class ScopedForm(forms.ModelForm):
    """A form for a row of one project and mode (`scope`, set by the admin's get_form)."""

    scope = Scope(project=None, livemode=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if self.scope.project is None:
            raise forms.ValidationError(NO_PROJECT)
        return data


class ScopedAdmin(ModelAdmin):
    """Adds rows in the console's current project and mode, shown above the form."""

    change_form_before_template = "admin/rewards/scope_bar.html"
    show_full_result_count = False

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        scope = scope_of(obj) if obj is not None else current_scope(request)
        return type(form.__name__, (form,), {"scope": scope})

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "scope_bar": scope_bar(request)}
        return super().add_view(request, form_url, extra_context)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Pools, codes, rewards and certificates keep pointing at these rows.
        return False


# --- brands -----------------------------------------------------------------------------------


class BrandForm(ScopedForm):
    class Meta:
        model = Brand
        fields = ("name", "logo_url", "terms", "currency")

    def clean_currency(self) -> str:
        currency = str(self.cleaned_data.get("currency") or "").strip().upper()
        if not is_currency_code(currency):
            raise forms.ValidationError(_("Enter a three-letter currency code such as RUB."))
        return currency

    def clean_logo_url(self) -> str:
        url = str(self.cleaned_data.get("logo_url") or "")
        if url and not url.lower().startswith(("http://", "https://")):
            raise forms.ValidationError(_("Enter an http:// or https:// address of the logo."))
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            # A changed brand must still be one create_brand would make: its rules are there.
            check_with_service(self.create, fields=self.fields.keys())
        return data

    def create(self) -> Brand:
        data = self.cleaned_data
        assert self.scope.project is not None
        return pools.create_brand(
            project=self.scope.project,
            livemode=self.scope.livemode,
            name=data["name"],
            logo_url=data.get("logo_url", ""),
            terms=data.get("terms", ""),
            currency=data.get("currency", self.instance.currency),
        )


@admin.register(Brand)
class BrandAdmin(ScopedAdmin):
    """Brands whose certificates are given as rewards: from pools or an external issuer."""

    form = BrandForm
    list_display = (
        "name",
        public_id,
        "currency",
        "pool_count",
        "livemode",
        "project",
        "created_at",
    )
    list_filter = ("livemode", "project")
    search_fields = ("name", "public_id")
    list_select_related = ("project",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Brand]:
        return super().get_queryset(request).annotate(pool_count=Count("pools"))

    @admin.display(description=_("pools"), ordering="pool_count")
    def pool_count(self, brand: Brand) -> int:
        return int(brand.pool_count)  # type: ignore[attr-defined]  # annotation

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        # Its pools are denominated in the brand's currency: it stays.
        return ("project", "livemode", public_id, "currency", "created_at")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("name", "logo_url", "terms", "currency")
        return (
            "project",
            "livemode",
            public_id,
            "name",
            "logo_url",
            "terms",
            "currency",
            "created_at",
        )

    def save_model(self, request: HttpRequest, obj: Brand, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            adopt(obj, form.create())


# --- pools ------------------------------------------------------------------------------------


class PoolForm(ScopedForm):
    class Meta:
        model = CertificatePool
        fields = ("brand", "denomination", "low_stock_threshold")
        localized_fields = ("denomination",)
        help_texts = {
            "low_stock_threshold": _("A warning is raised when this many codes or fewer are left.")
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "brand" in self.fields:
            field: Any = self.fields["brand"]
            field.queryset = Brand.objects.filter(
                project=self.scope.project, livemode=self.scope.livemode
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            check_with_service(self.create, fields=self.fields.keys())
        return data

    def create(self) -> CertificatePool:
        data = self.cleaned_data
        return pools.create_pool(
            brand=data["brand"],
            denomination=data["denomination"],
            low_stock_threshold=data["low_stock_threshold"],
        )


def low_stock(pool: CertificatePool) -> bool:
    return bool(pool.stock_available <= pool.low_stock_threshold)  # type: ignore[attr-defined]


@admin.register(CertificatePool)
class PoolAdmin(ScopedAdmin):
    """Pre-bought codes of one brand and denomination: the stock, upload batches and the CSV
    upload. A pool is made here and filled by uploads; its codes are never edited."""

    form = PoolForm
    list_display = (
        public_id,
        shown("brand", _("brand")),
        "nominal",
        "available",
        "allocated",
        "expired",
        "livemode",
        "project",
        "created_at",
    )
    list_filter = ("livemode", "project", "brand")
    list_select_related = ("brand", "project")
    search_fields = ("public_id", "brand__name")
    change_form_outer_before_template = "admin/rewards/pool_stock.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[CertificatePool]:
        return pools.with_stock(super().get_queryset(request))

    @admin.display(description=_("denomination"), ordering="denomination")
    def nominal(self, pool: CertificatePool) -> str:
        return money(pool.denomination, pool.currency)

    @admin.display(description=_("available"), ordering="stock_available")
    def available(self, pool: CertificatePool) -> str:
        count = pool.stock_available  # type: ignore[attr-defined]  # annotation
        if low_stock(pool):
            return format_html(
                '<span class="whitespace-nowrap" data-low-stock>{} {}</span>',
                count,
                label(_("low stock"), "warning"),
            )
        return str(count)

    @admin.display(description=_("allocated"), ordering="stock_allocated")
    def allocated(self, pool: CertificatePool) -> int:
        return int(pool.stock_allocated)  # type: ignore[attr-defined]  # annotation

    @admin.display(description=_("expired unused"), ordering="stock_expired")
    def expired(self, pool: CertificatePool) -> int:
        return int(pool.stock_expired)  # type: ignore[attr-defined]  # annotation

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("brand", "denomination", "low_stock_threshold")
        return (
            "project",
            "livemode",
            public_id,
            shown("brand", _("brand")),
            "nominal",
            "low_stock_threshold",
            "low_stock_alerted_at",
            "created_at",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A pool's page shows it; what changes is its stock, by uploads.
        return obj is None and super().has_change_permission(request, obj)

    def may_upload(self, request: HttpRequest) -> bool:
        return request.user.has_perm(UPLOAD_CODES)

    def save_model(
        self, request: HttpRequest, obj: CertificatePool, form: Any, change: bool
    ) -> None:
        adopt(obj, form.create())

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.upload_view)
        return [
            path("<path:object_id>/upload/", view, name="rewards_certificatepool_upload"),
            *super().get_urls(),
        ]

    def upload_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return upload_view(self, request, object_id)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        pool = self.get_object(request, unquote(object_id))
        if pool is not None:
            extra_context = {**(extra_context or {}), "pool": pool_summary(self, request, pool)}
        return super().change_view(request, object_id, form_url, extra_context)


def pool_summary(admin_: PoolAdmin, request: HttpRequest, pool: CertificatePool) -> dict[str, Any]:
    """The stock and upload batches of a pool (admin/rewards/pool_stock.html)."""
    codes = reverse("admin:rewards_poolcode_changelist")
    batches = (
        PoolCode.objects.filter(pool=pool)
        .values("batch")
        .annotate(count=Count("id"), uploaded_at=Min("created_at"))
        .order_by("-uploaded_at")
    )
    return {
        "obj": pool,
        "stock": pools.stock(pool),
        "low": low_stock(pool),
        "threshold": pool.low_stock_threshold,
        "codes_url": f"{codes}?pool={pool.pk}",
        "upload_url": (
            reverse("admin:rewards_certificatepool_upload", args=[pool.pk])
            if admin_.may_upload(request)
            else ""
        ),
        "batches": [
            {
                "batch": row["batch"],
                "count": row["count"],
                "uploaded_at": local_time(row["uploaded_at"]),
                "url": f"{codes}?pool={pool.pk}&batch={row['batch']}",
            }
            for row in batches
        ],
    }


# --- pool codes -------------------------------------------------------------------------------


class PoolFilter(admin.SimpleListFilter):
    title = _("pool")
    parameter_name = "pool"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        found = CertificatePool.objects.select_related("brand").order_by("brand__name", "pk")
        return [(str(pool.pk), f"{pool} · {pool.public_id}") for pool in found]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PoolCode]) -> QuerySet[PoolCode]:
        value = self.value()
        pool_id = row_id(value or "")
        return queryset.filter(pool_id=pool_id) if pool_id is not None else queryset


@admin.register(PoolCode)
class PoolCodeAdmin(ReadOnlyAdmin):
    """A pool's codes by the last characters of the code; a full code finds its row."""

    list_display = (
        "hint",
        shown("pool", _("pool")),
        "status",
        "nominal_money",
        "expires_at",
        "batch",
        "created_at",
        "livemode",
    )
    list_filter = (PoolFilter, "status", "livemode")
    list_select_related = ("pool__brand",)
    search_fields = ("batch",)
    search_help_text = _("An upload batch id or a whole code.")
    fields = (
        "project",
        "livemode",
        shown("pool", _("pool")),
        "hint",
        "status",
        "nominal_money",
        "expires_at",
        "batch",
        "created_at",
        "allocated_at",
        "certificate_link",
    )
    readonly_fields = fields

    @admin.display(description=_("code"))
    def hint(self, code: PoolCode) -> str:
        return format_html('<code class="whitespace-nowrap">{}</code>', masked_code(code))

    @admin.display(description=_("nominal"), ordering="nominal")
    def nominal_money(self, code: PoolCode) -> str:
        return money(code.nominal, code.pool.currency)

    @admin.display(description=_("certificate"))
    def certificate_link(self, code: PoolCode) -> str:
        certificate = getattr(code, "certificate", None)
        if code.status != PoolCodeStatus.ALLOCATED or certificate is None:
            return "—"
        url = reverse("admin:rewards_certificate_change", args=[certificate.pk])
        return format_html('<a href="{}" class="{}">{}</a>', url, LINK_CLASSES, certificate)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[PoolCode], search_term: str
    ) -> tuple[QuerySet[PoolCode], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        # Codes are stored encrypted: a whole code is found by its keyed hash.
        by_code = queryset.filter(code_hash=pools.code_hash(term))
        return queryset.filter(batch=term) | by_code, False
