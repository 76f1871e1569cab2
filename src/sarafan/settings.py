"""Sarafan settings: the one place that reads the environment.

Every value has a safe development default; production sets SECRET_KEY, ALLOWED_HOSTS,
SARAFAN_BASE_URL (https), DATABASE_URL and usually REDIS_URL.
"""

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.utils.translation import gettext_lazy as _

from sarafan.core.files import FILE_MODE, private_directory, private_file, tighten, write_private


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("SARAFAN_DATA_DIR") or Path.cwd() / "data").resolve()
# Only Sarafan's user may read it (the database, keys, logins): 0700, tightened if older.
private_directory(DATA_DIR)
for _written in ("secret_key", "demo.json"):  # older versions left them at the umask's 0644
    tighten(DATA_DIR / _written, FILE_MODE)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data dir."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("SARAFAN_DEBUG")
BASE_URL = os.environ.get("SARAFAN_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_base = urlsplit(BASE_URL)
HTTPS = _base.scheme == "https"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or [
    _base.hostname or "127.0.0.1",
    "127.0.0.1",
    "localhost",
]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS") or [f"{_base.scheme}://{_base.netloc}"]

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    # Locks out repeated console login failures.
    "axes",
    # Serves the API docs page's scripts locally instead of from a CDN (isolated installs).
    "ninja",
    "sarafan.core",
    "sarafan.alerts",
    "sarafan.projects",
    "sarafan.events",
    "sarafan.campaigns",
    "sarafan.participants",
    "sarafan.links",
    "sarafan.tracking",
    "sarafan.referrals",
    "sarafan.rewards",
    "sarafan.fraud",
    "sarafan.moderation",
    "sarafan.analytics",
    "sarafan.console",
    "sarafan.portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "sarafan.core.middleware.RateLimitMiddleware",
    "sarafan.core.middleware.ApiMiddleware",
    "sarafan.site.idempotency.IdempotencyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "sarafan.urls"
WSGI_APPLICATION = "sarafan.wsgi.application"
ASGI_APPLICATION = "sarafan.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _databases() -> dict[str, dict[str, object]]:
    url = os.environ.get("DATABASE_URL")
    if url:
        db = dj_database_url.parse(url, conn_max_age=0, conn_health_checks=False)
        if db["ENGINE"] == "django.db.backends.postgresql" and env_bool("SARAFAN_DB_POOL", True):
            # psycopg 3's pool, one per process; sized for a threaded server worker.
            db["OPTIONS"] = {
                **db.get("OPTIONS", {}),
                "pool": {
                    "min_size": int(os.environ.get("SARAFAN_DB_POOL_MIN", "1")),
                    "max_size": int(os.environ.get("SARAFAN_DB_POOL_MAX", "8")),
                    "timeout": 10,
                },
            }
        return {"default": dict(db)}
    database = DATA_DIR / "sarafan.sqlite3"
    # Made 0600 before SQLite opens it: SQLite gives its -wal and -shm files the same mode.
    private_file(database)
    for companion in ("-wal", "-shm", "-journal"):
        tighten(DATA_DIR / f"{database.name}{companion}", FILE_MODE)
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": database,
            "OPTIONS": {
                # WAL lets readers run beside the one writer; IMMEDIATE takes the write
                # lock at BEGIN so two writers queue instead of failing on upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
            },
            "TEST": {"NAME": None},
        }
    }


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "sarafan.core.redis_cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Task backend -------------------------------------------------------------------------
# SARAFAN_TASK_BACKEND chooses where background tasks wait: "db" (the default) in the
# database, which needs nothing else; "rq" in Redis at REDIS_URL, run by RQ workers. A dotted
# backend path is used as given. `sarafan worker` runs the worker that matches.
TASK_BACKENDS = {"db": "django_tasks_db.DatabaseBackend", "rq": "django_tasks_rq.RQBackend"}


def _task_backend() -> str:
    from django.core.exceptions import ImproperlyConfigured

    name = os.environ.get("SARAFAN_TASK_BACKEND") or "db"
    backend = TASK_BACKENDS.get(name, name)
    if "." not in backend:
        raise ImproperlyConfigured(
            f"SARAFAN_TASK_BACKEND={name} is unknown: use db, rq or a backend's dotted path."
        )
    if backend == TASK_BACKENDS["rq"] and not REDIS_URL:
        raise ImproperlyConfigured(
            f"SARAFAN_TASK_BACKEND={name} keeps tasks in Redis, but REDIS_URL is not set "
            "(e.g. REDIS_URL=redis://127.0.0.1:6379/0)."
        )
    return backend


TASKS = {"default": {"BACKEND": _task_backend(), "QUEUES": ["default"]}}
if TASKS["default"]["BACKEND"] == TASK_BACKENDS["rq"]:
    # django-rq holds the connection and the queues; the database task tables stay installed
    # so that switching back needs no migration.
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    # A task running longer than DEFAULT_TIMEOUT seconds is stopped and marked failed.
    # The queues share the cache's connection pool instead of connecting for every enqueue.
    RQ_QUEUES = {"default": {"USE_REDIS_CACHE": "default", "DEFAULT_TIMEOUT": 300}}
# --- end of task backend ------------------------------------------------------------------

# --- E-mail -------------------------------------------------------------------------------
# Certificates and expiry reminders go out through the SMTP server SARAFAN_EMAIL_HOST; with
# no host, an https installation hands them to a local mail server on localhost, and only a
# laptop's `make up` (an http base URL) prints them to the console instead, as readable
# text with the codes, PINs and portal links masked (core/mail.py). SARAFAN_EMAIL_TLS is
# STARTTLS (port 587 by default), SARAFAN_EMAIL_SSL implicit TLS (465), else port 25.
# Django 6.1 configures mail as MAILERS; the older EMAIL_BACKEND/EMAIL_HOST settings are
# deprecated and must not be set beside it.
_email_host = os.environ.get("SARAFAN_EMAIL_HOST", "") or ("localhost" if HTTPS else "")
if _email_host:
    if env_bool("SARAFAN_EMAIL_TLS") and env_bool("SARAFAN_EMAIL_SSL"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("Set SARAFAN_EMAIL_TLS or SARAFAN_EMAIL_SSL, not both.")
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host,
                "port": int(os.environ["SARAFAN_EMAIL_PORT"])
                if os.environ.get("SARAFAN_EMAIL_PORT")
                else None,
                "username": os.environ.get("SARAFAN_EMAIL_USER", ""),
                "password": os.environ.get("SARAFAN_EMAIL_PASSWORD", ""),
                "use_tls": env_bool("SARAFAN_EMAIL_TLS"),
                "use_ssl": env_bool("SARAFAN_EMAIL_SSL"),
                "timeout": float(os.environ.get("SARAFAN_EMAIL_TIMEOUT", "10")),
            },
        }
    }
else:
    # Readable text on stdout with the certificate codes, PINs and portal links masked.
    MAILERS = {"default": {"BACKEND": "sarafan.core.mail.MaskedConsoleBackend"}}
# The sender when a project sets none, e.g. "Shop <noreply@shop.example>".
DEFAULT_FROM_EMAIL = os.environ.get("SARAFAN_EMAIL_FROM") or (
    f"Sarafan <noreply@{_base.hostname or 'localhost'}>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Holders of an unspent certificate are reminded once, this many days before it expires.
SARAFAN_EXPIRY_REMINDER_DAYS = int(os.environ.get("SARAFAN_EXPIRY_REMINDER_DAYS", "7"))
# --- end of e-mail ------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("SARAFAN_LANGUAGE", "ru")
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("SARAFAN_TIME_ZONE", "Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "admin:login"

# Request bodies above this size answer 413 in the API's error shape.
SARAFAN_MAX_BODY_BYTES = int(os.environ.get("SARAFAN_MAX_BODY_BYTES", str(2 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = SARAFAN_MAX_BODY_BYTES
SARAFAN_KEY_CACHE_SECONDS = float(os.environ.get("SARAFAN_KEY_CACHE_SECONDS", "5"))
SARAFAN_IDEMPOTENCY_TTL_HOURS = int(os.environ.get("SARAFAN_IDEMPOTENCY_TTL_HOURS", "48"))
# A request holding an Idempotency-Key this long without answering is taken for dead (its
# process was killed), and a retry with the same key and body runs again. Longer than any
# request runs: outbound calls never run in a web request.
SARAFAN_IDEMPOTENCY_LEASE_SECONDS = float(os.environ.get("SARAFAN_IDEMPOTENCY_LEASE_SECONDS", "60"))
SARAFAN_CERTIFICATE_VALID_DAYS = int(os.environ.get("SARAFAN_CERTIFICATE_VALID_DAYS", "365"))
SARAFAN_VISITOR_COOKIE_DAYS = int(os.environ.get("SARAFAN_VISITOR_COOKIE_DAYS", "365"))
# Each analytics rollup run recomputes this many past days (late clicks and events).
SARAFAN_ROLLUP_LOOKBACK_DAYS = int(os.environ.get("SARAFAN_ROLLUP_LOOKBACK_DAYS", "3"))
# Outbound HTTP to addresses users give (issuers, later webhooks): host names that may
# resolve to loopback or private addresses (a provider on the installation's network), the
# longest a call may take, and how many calls of one project the workers run at once.
SARAFAN_OUTBOUND_ALLOW_HOSTS = [h.lower() for h in env_list("SARAFAN_OUTBOUND_ALLOW_HOSTS")]
SARAFAN_OUTBOUND_MAX_TIMEOUT_SECONDS = float(
    os.environ.get("SARAFAN_OUTBOUND_MAX_TIMEOUT_SECONDS", "30")
)
SARAFAN_OUTBOUND_PER_PROJECT = int(os.environ.get("SARAFAN_OUTBOUND_PER_PROJECT", "2"))
# Phone numbers without a country code are read as numbers of this region (anti-fraud).
SARAFAN_PHONE_REGION = os.environ.get("SARAFAN_PHONE_REGION", "RU").upper()
SARAFAN_FRAUD_RULES_CACHE_SECONDS = float(os.environ.get("SARAFAN_FRAUD_RULES_CACHE_SECONDS", "5"))
# Fernet keys (comma-separated) that encrypt codes, PINs and personal data at rest. The
# first encrypts, all decrypt: to rotate, put a new key first. Empty: one key is derived
# from SECRET_KEY (core/crypto.py), which is fine until SECRET_KEY changes.
SARAFAN_ENCRYPTION_KEYS = tuple(
    key.strip() for key in os.environ.get("SARAFAN_ENCRYPTION_KEYS", "").split(",") if key.strip()
)
# Recovery after a crash (rewards/delivery.py, core/stalled.py): a certificate e-mail not
# sent this long after its reward was issued (its task was lost), or claimed this long ago
# and never finished (the worker died mid-send), is sent by the periodic sweep; keep it well
# above SARAFAN_EMAIL_TIMEOUT. A task running this long is taken for one whose worker died.
SARAFAN_DELIVERY_GRACE_SECONDS = float(os.environ.get("SARAFAN_DELIVERY_GRACE_SECONDS", "600"))
SARAFAN_TASK_STALE_SECONDS = float(os.environ.get("SARAFAN_TASK_STALE_SECONDS", "3600"))

# --- Events (events/) ---------------------------------------------------------------------
# Who reacts to a change: event type -> dotted paths of handlers, each called with the
# OutboxEvent ("*": every type). SARAFAN_EVENT_HANDLERS (JSON, the same shape) adds to these.
SARAFAN_EVENT_HANDLERS: dict[str, list[str]] = {
    # Certificate e-mails (rewards/delivery.py), when the project e-mails rewards.
    "reward.issued": ["sarafan.rewards.handlers.deliver_certificate"],
    # Rewards that waited for codes are issued once codes arrive.
    "pool.refilled": ["sarafan.rewards.handlers.resume_refilled_pool"],
    # Rewards held for a person's tax details are issued once the details are recorded.
    "participant.tax_details_recorded": ["sarafan.rewards.handlers.resume_tax_held"],
}
for _type, _paths in json.loads(os.environ.get("SARAFAN_EVENT_HANDLERS") or "{}").items():
    SARAFAN_EVENT_HANDLERS[_type] = [*SARAFAN_EVENT_HANDLERS.get(_type, []), *_paths]
# A dispatcher's claim on events lasts this long: the events of a dispatcher that died are
# handed out again after it. A failing handler is retried after SARAFAN_EVENT_RETRY_SECONDS,
# doubling each time (at most an hour), and given up after SARAFAN_EVENT_MAX_ATTEMPTS.
SARAFAN_EVENT_LEASE_SECONDS = float(os.environ.get("SARAFAN_EVENT_LEASE_SECONDS", "60"))
SARAFAN_EVENT_RETRY_SECONDS = float(os.environ.get("SARAFAN_EVENT_RETRY_SECONDS", "10"))
SARAFAN_EVENT_MAX_ATTEMPTS = int(os.environ.get("SARAFAN_EVENT_MAX_ATTEMPTS", "10"))
# Processed events are deleted after this many days.
SARAFAN_EVENT_KEEP_DAYS = int(os.environ.get("SARAFAN_EVENT_KEEP_DAYS", "30"))

# Security headers; the HTTPS-only ones follow the base URL's scheme.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SARAFAN_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(os.environ.get("SARAFAN_HSTS_SECONDS", "31536000")) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("SARAFAN_BEHIND_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
SARAFAN_TRUSTED_PROXY_HOPS = int(os.environ.get("SARAFAN_TRUSTED_PROXY_HOPS", "0"))

# Rate limits, written N/S: N per S seconds (core/ratelimit.py). Requests per key and per
# client address on /api/ (shared through Redis when REDIS_URL is set, else per process):
SARAFAN_RATE_LIMIT_KEY = os.environ.get("SARAFAN_RATE_LIMIT_KEY", "6000/60")
SARAFAN_RATE_LIMIT_IP = os.environ.get("SARAFAN_RATE_LIMIT_IP", "12000/60")
SARAFAN_RATE_LIMIT_CERTIFICATES = os.environ.get("SARAFAN_RATE_LIMIT_CERTIFICATES", "600/60")
# Failed guesses (shared through Redis, else the database); past one, the client is
# refused until the window ends: failed API authentications per address, unknown
# certificate codes per key and per address, unknown portal tokens per address.
SARAFAN_RATE_LIMIT_AUTH_FAILURES = os.environ.get("SARAFAN_RATE_LIMIT_AUTH_FAILURES", "20/60")
SARAFAN_RATE_LIMIT_CERTIFICATE_MISSES = os.environ.get(
    "SARAFAN_RATE_LIMIT_CERTIFICATE_MISSES", "30/60"
)
SARAFAN_RATE_LIMIT_PORTAL_MISSES = os.environ.get("SARAFAN_RATE_LIMIT_PORTAL_MISSES", "20/60")

# Console sign-in: AXES_FAILURE_LIMIT failures of one user from one address lock that pair
# out for AXES_COOLOFF_TIME (django-axes); a successful sign-in clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("SARAFAN_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("SARAFAN_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "sarafan.core.addresses.client_ip"
AXES_LOCKOUT_CALLABLE = "sarafan.console.lockout.locked_out"
# Lockouts are listed and lifted with `sarafan manage axes_list_attempts` / `axes_reset_username`.
AXES_ENABLE_ADMIN = False

# Every handler (so every sarafan.* record) and every logger that writes request paths
# masks certificate codes, PINs, API keys and portal tokens (core/logging.py). Django's own
# handlers (its debug console, mail to ADMINS) are dropped: its records go to the same
# masked console as Sarafan's. granian's access log (GRANIAN_LOG_ACCESS_ENABLED=1) is
# configured here too, for the mask.
_LOG_LEVEL = os.environ.get("SARAFAN_LOG_LEVEL", "WARNING")
_MASKED = ["mask_secrets"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_secrets": {"()": "sarafan.core.logging.MaskSecrets"}},
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
        "granian.access": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": _MASKED},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": _MASKED,
        },
        "granian.access": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "granian.access",
            "filters": _MASKED,
        },
    },
    "loggers": {
        "django": {"handlers": [], "level": _LOG_LEVEL, "propagate": True},
        # Masked where the record is made, before any handler, even one added later.
        "django.request": {"filters": _MASKED},
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": _MASKED,
        },
        "granian.access": {
            "handlers": ["granian.access"],
            "level": "INFO",
            "propagate": False,
            "filters": _MASKED,
        },
    },
    "root": {"handlers": ["console"], "level": _LOG_LEVEL},
}

UNFOLD = {
    "SITE_TITLE": "Sarafan",
    "SITE_HEADER": "Sarafan",
    "SITE_SUBHEADER": _("Referral programs"),
    "SITE_SYMBOL": "campaign",
    "SHOW_LANGUAGES": True,
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "sarafan.site.dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        # Groups Programs / Tracking / Rewards / Settings, built per request for permissions.
        "navigation": "sarafan.site.navigation.sidebar",
    },
}

# --- Redirect hot path (/r/<code>) --------------------------------------------------------
# Each process keeps a resolved link this many seconds (0 turns the cache off), so a changed
# landing URL shows within that time; an unknown code is never remembered.
SARAFAN_LINK_CACHE_SECONDS = float(os.environ.get("SARAFAN_LINK_CACHE_SECONDS", "5"))
# "spool" (default): a click is appended to a durable file under DATA_DIR/spool/clicks/ before
# the 302, and a thread of each process copies it into links_click at once, then at most
# every SARAFAN_CLICK_FLUSH_SECONDS. "direct": one INSERT per click on the request.
SARAFAN_CLICK_WRITES = os.environ.get("SARAFAN_CLICK_WRITES", "spool")
if SARAFAN_CLICK_WRITES not in ("spool", "direct"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"SARAFAN_CLICK_WRITES={SARAFAN_CLICK_WRITES!r}: use 'spool' or 'direct'."
    )
# With fsync a spooled click survives a crash of the machine; without it, only a crash of
# the process (the write has reached the kernel).
SARAFAN_CLICK_SPOOL_FSYNC = env_bool("SARAFAN_CLICK_SPOOL_FSYNC", True)
SARAFAN_CLICK_FLUSH_SECONDS = float(os.environ.get("SARAFAN_CLICK_FLUSH_SECONDS", "0.2"))
# Query parameters that are ad networks' click ids (lower case): kept in Click.click_ids with
# any `…click_id` one, they mark the visitor as paid traffic.
SARAFAN_PAID_AD_PARAMS = tuple(
    name.lower()
    for name in env_list(
        "SARAFAN_PAID_AD_PARAMS",
        "gclid,gbraid,wbraid,dclid,yclid,fbclid,msclkid,ttclid,twclid,li_fat_id,epik,rb_clickid",
    )
)
# /r/<code> of a link the process remembers is answered before the session, locale, CSRF,
# auth and message middleware, which a redirect does not use (sarafan/links/middleware.py).
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
    "sarafan.links.middleware.KnownLinkRedirectMiddleware",
)
# --- end of redirect hot path -------------------------------------------------------------
