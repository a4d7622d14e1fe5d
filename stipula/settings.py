"""Settings for Stipula, read from the environment.

SQLite is the embedded default so that a newcomer runs everything with no server;
set DATABASE_URL (for example postgres://postgres@127.0.0.1:5432/stipula) for PostgreSQL.
"""

from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    SECRET_KEY=(str, "insecure-development-key-change-me-in-production"),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]", "testserver"]),
    EMAIL_URL=(str, "consolemail://"),
    STIPULA_DATA_DIR=(str, str(BASE_DIR / "var")),
)

DATA_DIR = Path(env("STIPULA_DATA_DIR"))

DEBUG = env("DEBUG")
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "viewflow",
    "viewflow.workflow",
    "audit",
    "agreements",
    "workflow",
    "templates_docx",
    "signing",
    "registry",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "stipula.middleware.RequestIdMiddleware",
    # viewflow's Material frontend: puts the site and app on request.resolver_match, and handles
    # Turbo form submissions (viewflow's AppConfig would otherwise add these silently).
    # Before SiteMiddleware's 403: records non-auditors' attempts to open the audit workspace.
    "stipula.middleware.AuditLogRefusalMiddleware",
    "viewflow.middleware.SiteMiddleware",
    "viewflow.middleware.HotwireTurboMiddleware",
]

ROOT_URLCONF = "stipula.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "stipula" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

WSGI_APPLICATION = "stipula.wsgi.application"

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'stipula.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for the writer lock instead of failing at once, and take it at BEGIN so that two
    # writers never both read the same chain head.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
    DATA_DIR.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "it"
LANGUAGES = [("it", "Italiano"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# Stored in UTC, shown in Europe/Rome.
USE_TZ = True
TIME_ZONE = "Europe/Rome"

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = DATA_DIR / "media"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="stipula@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}

# DOCX -> PDF with LibreOffice (templates_docx.conversion): "warm" talks to the converter that
# `manage.py converter` runs, "cold" starts a soffice per document, "auto" tries warm, then cold.
STIPULA_CONVERTER = env("STIPULA_CONVERTER", default="auto")
STIPULA_CONVERTER_SOCKET = env("STIPULA_CONVERTER_SOCKET", default=str(DATA_DIR / "converter.sock"))
STIPULA_UNO_PYTHON = env("STIPULA_UNO_PYTHON", default="/usr/bin/python3")
STIPULA_SOFFICE = env("STIPULA_SOFFICE", default="soffice")
STIPULA_MAX_DOCX_BYTES = env.int("STIPULA_MAX_DOCX_BYTES", default=20 * 1024 * 1024)

# Signing (signing/). Trust roots: a folder of PEM/DER CA certificates (signing.trust); the EU
# trusted lists are added when STIPULA_EU_TRUSTED_LISTS is on. A TSA URL makes signatures B-T
# (B-LT when revocation data can be fetched too). The seal (a PKCS#12 file) certifies the PDF to
# sign with DocMDP level 2 when STIPULA_CERTIFY is on.
STIPULA_TSA_URL = env("STIPULA_TSA_URL", default="")
STIPULA_TRUST_ROOTS_DIR = env("STIPULA_TRUST_ROOTS_DIR", default=str(DATA_DIR / "trust"))
STIPULA_EU_TRUSTED_LISTS = env.bool("STIPULA_EU_TRUSTED_LISTS", default=False)
STIPULA_EU_LOTL_URL = env(
    "STIPULA_EU_LOTL_URL", default="https://ec.europa.eu/tools/lotl/eu-lotl.xml"
)
STIPULA_CERTIFY = env.bool("STIPULA_CERTIFY", default=False)
STIPULA_SEAL_PKCS12 = env("STIPULA_SEAL_PKCS12", default="")
STIPULA_SEAL_PASSWORD = env("STIPULA_SEAL_PASSWORD", default="")
# Accept an external signature whose certificate has no TINIT- fiscal code when its common name
# equals the signatory's name (RULES.md S8 prefers the fiscal code).
STIPULA_SIGNER_NAME_MATCH = env.bool("STIPULA_SIGNER_NAME_MATCH", default=False)
STIPULA_PKCS11_MODULE = env("STIPULA_PKCS11_MODULE", default="/usr/lib/softhsm/libsofthsm2.so")
STIPULA_SOFTHSM_DIR = env("STIPULA_SOFTHSM_DIR", default=str(DATA_DIR / "softhsm"))

# Workflow (workflow/, issue 5) and Celery. The process of an agreement starts when the agreement
# is created, or on its first transition for agreements created before (STIPULA_WORKFLOW_AUTOSTART;
# off: only agreements whose process was started explicitly have one). Deadlines are in calendar
# days per phase (None: no deadline); a reminder goes out STIPULA_WORKFLOW_REMIND_BEFORE_DAYS
# before the due date, an escalation to the responsible legal officer once it has passed. The
# deadline job runs in Celery beat (workflow.run_deadlines, every STIPULA_DEADLINES_EVERY_SECONDS)
# or as `manage.py workflow_deadlines` from any scheduler (see workflow/README.md).
STIPULA_BASE_URL = env("STIPULA_BASE_URL", default="http://localhost:8000")
STIPULA_WORKFLOW_AUTOSTART = env.bool("STIPULA_WORKFLOW_AUTOSTART", default=True)
STIPULA_WORKFLOW_DEADLINES = {
    "draft": None,
    "negotiation": 30,
    "review": 10,
    "signing": 10,
    "decline": 5,
    "registration": 3,
}
STIPULA_WORKFLOW_REMIND_BEFORE_DAYS = env.int("STIPULA_WORKFLOW_REMIND_BEFORE_DAYS", default=2)
# E-mail composed and sent by a Celery worker instead of right after the commit in the web process.
STIPULA_NOTIFY_ASYNC = env.bool("STIPULA_NOTIFY_ASYNC", default=False)
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "workflow-deadlines": {
        "task": "workflow.run_deadlines",
        "schedule": float(env.int("STIPULA_DEADLINES_EVERY_SECONDS", default=900)),
    },
    # The daily register of the day before, soon after midnight Europe/Rome (registry/).
    "registry-daily-register": {
        "task": "registry.produce_daily_registers",
        "schedule": crontab(hour=0, minute=15),
    },
}

# Registration (registry/, issue 6). The patron saint's day of the office's town is a holiday for
# the daily register's deadline, as "MM-DD" (comma-separated), e.g. "06-29" for Rome.
STIPULA_LOCAL_HOLIDAYS = env.list("STIPULA_LOCAL_HOLIDAYS", default=[])

# Audit checkpoints (audit/checkpoints.py, RULES.md A4): a signed tree head of the audit log,
# timestamped by STIPULA_TSA_URL and signed with the system seal, after every registration and at
# least daily: here at 00:30 Europe/Rome, after the daily register (or `manage.py
# audit_checkpoint` from any scheduler). How long to wait for the timestamp server, in seconds.
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {
    "task": "audit.make_checkpoint",
    "schedule": crontab(hour=0, minute=30),
}
STIPULA_AUDIT_TSA_TIMEOUT = env.float("STIPULA_AUDIT_TSA_TIMEOUT", default=10.0)

# The REST API (api/, issue 8): token authentication for systems, the session for the browser; one
# error shape (api/errors.py); page-numbered lists; OpenAPI 3 schema by drf-spectacular.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stipula API",
    "DESCRIPTION": (
        "Agreements between public bodies and their partners: drafting, negotiation, legal "
        "review, PAdES signatures, registration and audit. Every action calls the same services "
        'as the web interface. Errors: `{"error": {"code", "message", "details", '
        '"fields"}}`.'
    ),
    "VERSION": "1",
    "LICENSE": {"name": "AGPL-3.0-or-later"},
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # The same choices reach the schema through several fields: one named enum each.
    "ENUM_NAME_OVERRIDES": {
        "AgreementStateEnum": "agreements.models.AgreementState",
        "AgreementKindEnum": "agreements.models.Agreement.Kind",
        "OrganisationKindEnum": "agreements.models.Organisation.Kind",
        "ProposalStatusEnum": "agreements.models.ProposalStatus",
        "TemplateVariableKindEnum": "api.serializers.TEMPLATE_VARIABLE_KINDS",
        "ExportJobStatusEnum": "audit.models.ExportJob.Status",
        "ProcedureStatusEnum": "audit.procedure.Status",
        "WebhookDeliveryStatusEnum": "webhooks.models.Delivery.Status",
    },
}

# Webhooks (webhooks/): deliveries signed with HMAC-SHA256, retried with exponential backoff.
STIPULA_WEBHOOK_MAX_ATTEMPTS = env.int("STIPULA_WEBHOOK_MAX_ATTEMPTS", default=6)
STIPULA_WEBHOOK_BACKOFF_SECONDS = env.int("STIPULA_WEBHOOK_BACKOFF_SECONDS", default=30)
STIPULA_WEBHOOK_TIMEOUT_SECONDS = env.float("STIPULA_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Allow targets on loopback, link-local or reserved addresses (development only; webhooks/targets).
STIPULA_WEBHOOK_ALLOW_LOCAL = env.bool("STIPULA_WEBHOOK_ALLOW_LOCAL", default=False)
# Audit events -> deliveries, and sending the due ones (or `manage.py webhooks_dispatch --loop`).
CELERY_BEAT_SCHEDULE["webhooks-dispatch"] = {
    "task": "webhooks.dispatch",
    "schedule": float(env.int("STIPULA_WEBHOOK_DISPATCH_EVERY_SECONDS", default=15)),
}
