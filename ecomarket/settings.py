"""EcoMarket settings: one module for both modes, configured only by the environment (12-factor).

Every variable read here is listed in ``.env.example``. ``ECOMARKET_MODE`` selects what is installed, routed and
scheduled (docs/architecture.md, "One codebase, two modes" and "Deployments").
"""

import ipaddress
import os
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from ecomarket.logs import logging_config
from ecomarket.modes import Mode, mode_parse
from ecomarket.schedule import beat_schedule

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` file (the format of .env.example: KEY=value, no inline comments) is read when present; variables already
# in the environment win. ENV_FILE names another file; empty reads none (`make run` and the tests set it so, and a
# production .env in the checkout never leaks into them).
ENV_FILE = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE)

# ---------------------------------------------------------------------------------------------------------------
# Mode and identity
# ---------------------------------------------------------------------------------------------------------------
ECOMARKET_MODE = mode_parse(env.str("ECOMARKET_MODE", default=""))
IS_BRANCH = ECOMARKET_MODE == Mode.BRANCH
IS_CENTRAL = ECOMARKET_MODE == Mode.CENTRAL

# The branch this server is (branch mode). Central knows branches from its Branch table instead.
BRANCH_CODE = env.str("BRANCH_CODE", default="B001" if IS_BRANCH else "")
# Selling into negative stock: False keeps the prototype's rule (409 insufficient_stock); True accepts the sale and
# flags it as oversold so head office follows the customer up.
BRANCH_ALLOW_NEGATIVE_STOCK = env.bool("BRANCH_ALLOW_NEGATIVE_STOCK", default=False)
# The cash drawer (cash/, README "Tills and the cash drawer"). Where required, a sale, return or void that names a
# register needs an open cash session on it (409 no_open_session); one that names none is not a till's and is
# taken as before. A close whose count differs from what the drawer should hold by more than CASH_VARIANCE_APPROVAL
# needs a manager. At head office, a session still open after CASH_SESSION_OPEN_MAX_S is a finding.
CASH_SESSIONS_REQUIRED = env.bool("CASH_SESSIONS_REQUIRED", default=True)
CASH_VARIANCE_APPROVAL = Decimal(env.str("CASH_VARIANCE_APPROVAL", default="5.00"))
CASH_SESSION_OPEN_MAX_S = env.int("CASH_SESSION_OPEN_MAX_S", default=16 * 3600)
# A markdown at the till (a line's or the sale's discount, README "Grocery pricing") taking more than this percent
# of what it applies to needs a manager: the cashier being one, or a manager's login with the sale. 0: every one.
MARKDOWN_APPROVAL_PERCENT = Decimal(env.str("MARKDOWN_APPROVAL_PERCENT", default="0"))
# Scale labels a till may scan as a sale line (pricing/scale.py, README "Grocery pricing"): comma-separated
# "<first prefix>-<last prefix>:<13 letters>", P prefix, I PLU, W weight in grams or $ price in cents, C check digit.
SCALE_BARCODE_FORMATS = env.str("SCALE_BARCODE_FORMATS", default="20-29:PPIIIIIWWWWWC")
# What a customer's receipt and a return slip print at their head: the store as the tax authority knows it.
STORE_NAME = env.str("STORE_NAME", default="EcoMarket")
STORE_ADDRESS = env.str("STORE_ADDRESS", default="")
STORE_TAX_ID = env.str("STORE_TAX_ID", default="")

# Where this server keeps its SQLite file, its embedded broker and its beat schedule.
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var" / ECOMARKET_MODE.value)))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# ---------------------------------------------------------------------------------------------------------------
# Security. SECRET_KEY has no default: `make run` and the test suite make their own, production must set one.
# ---------------------------------------------------------------------------------------------------------------
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY or SECRET_KEY == "change-me":
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a long random value (see .env.example; e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`); `make run` generates one under var/."
    )
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Staff sessions end after this long unused, and this long after the login whatever happens (ASVS 3.3.2, with
# NIST SP 800-63B's AAL2 figures: 30 minutes idle, 12 hours): a till in use keeps its session for a whole shift, one
# left alone asks for the password again (ecomarket.middleware.SessionLifetimeMiddleware). The cookie and the stored
# session lapse with the idle timeout too. API tokens have limits of their own (STAFF_TOKEN_MAX_AGE_DAYS).
SESSION_IDLE_TIMEOUT_S = env.int("SESSION_IDLE_TIMEOUT_S", default=30 * 60)
SESSION_MAX_AGE_S = env.int("SESSION_MAX_AGE_S", default=12 * 3600)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT_S
# A staff API token (a till's, a script's) issued from now on expires this many days after it was issued (create_staff
# --rotate-token or the user's admin page issue the next); 0: it lasts until it is rotated or revoked.
STAFF_TOKEN_MAX_AGE_DAYS = env.int("STAFF_TOKEN_MAX_AGE_DAYS", default=0)
# Central: a branch credential replaced by a rotation (register_branch, the branch's admin page) keeps working this
# long, so the store is switched to the new one without its sync stopping; revoking stops it at once.
BRANCH_CREDENTIAL_GRACE_S = env.int("BRANCH_CREDENTIAL_GRACE_S", default=24 * 3600)
CSRF_COOKIE_HTTPONLY = False  # the POS page reads it to send X-CSRFToken
# Cookies do not tell ports apart: central (:8000) and a branch (:8001) on one host would log each other out.
_SERVER_NAME = BRANCH_CODE.lower() if IS_BRANCH else "central"
SESSION_COOKIE_NAME = f"ecomarket_{_SERVER_NAME}_session"
CSRF_COOKIE_NAME = f"ecomarket_{_SERVER_NAME}_csrftoken"

# HTTPS behind a reverse proxy (deploy/nginx/). The proxy terminates TLS and says so in X-Forwarded-Proto; only
# trust that header when a proxy you run sets it (and strips it from clients), or any client could claim HTTPS.
# https://docs.djangoproject.com/en/5.2/ref/settings/#secure-proxy-ssl-header
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Served to people over HTTPS: cookies only travel encrypted, plain HTTP is redirected, browsers remember (HSTS).
# Health and metrics stay reachable over plain HTTP on the box itself (probes and scrapers talk to gunicorn).
HTTPS = env.bool("HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=31_536_000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preloading binds the whole domain to HTTPS in every browser for months: the domain's owner decides it.
SECURE_HSTS_PRELOAD = env.bool("HSTS_PRELOAD", default=False)
# Every page: scripts, styles, images and connections only from this server (ecomarket/csp.py); the API docs page
# widens it for what Swagger UI needs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)
AUTH_FAILURE_LIMIT = env.int("AUTH_FAILURE_LIMIT", default=20)
AUTH_FAILURE_WINDOW_S = env.int("AUTH_FAILURE_WINDOW_S", default=300)
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# A POS request is small; a sync batch of 500 events fits well inside 2 MiB. Larger bodies get 413 (see
# ecomarket.middleware.BodySizeLimitMiddleware), never a 500.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=2 * 1024 * 1024)
# A body that has not arrived this long after the server began reading it gets 408 (under gunicorn; see
# ecomarket.middleware.request_body_refusal). Long enough for a 1 MiB sync batch over a slow store uplink; in
# production nginx buffers the body first anyway (its client_body_timeout, deploy/nginx/).
REQUEST_BODY_TIMEOUT_S = env.float("REQUEST_BODY_TIMEOUT_S", default=30.0)

# ---------------------------------------------------------------------------------------------------------------
# Applications. Models are shared by both modes (the ledger has the same shape at a branch and at head office);
# what differs is routed in ecomarket/urls.py and scheduled by beat: each mode's periodic tasks are listed once, in
# ecomarket/schedule.py (CELERY_BEAT_SCHEDULE, at the end of this module, is built from it).
# ---------------------------------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "ecomarket",
    "inventory",
    "branches",
    "cash",
    "pricing",
    "chain",
]
if IS_CENTRAL:
    INSTALLED_APPS += ["django_celery_beat", "reconciliation", "reports"]

MIDDLEWARE = [
    "ecomarket.middleware.RequestContextMiddleware",  # request id and request metrics (Observability below)
    "django.middleware.security.SecurityMiddleware",
    "ecomarket.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ecomarket.middleware.PrivateResponsesMiddleware",  # no-store for all but static files
    "ecomarket.middleware.UnprintableInputMiddleware",
    "ecomarket.middleware.AuthFailureThrottleMiddleware",
    "ecomarket.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "ecomarket.middleware.ChainLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ecomarket.middleware.SessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if IS_CENTRAL:
    # After the throttle of failing credentials (a credential that keeps failing is refused before any lookup), before
    # the body is read: a sync request shows a valid branch credential, then its whole body, and only then takes a
    # slot (branches/admission.py). A refused one costs no session or body parsing.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("ecomarket.middleware.BodySizeLimitMiddleware"), "branches.admission.SyncAdmissionMiddleware"
    )

ROOT_URLCONF = "ecomarket.urls"
WSGI_APPLICATION = "ecomarket.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ecomarket.pages.page_context",
            ],
        },
    },
]

# ---------------------------------------------------------------------------------------------------------------
# Database. Default: SQLite in DATA_DIR (both modes' embedded default); central in production sets DATABASE_URL
# to PostgreSQL. SQLite durability and locking are set here and verified on every connection (ecomarket/db.py).
# https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-notes
# ---------------------------------------------------------------------------------------------------------------
SQLITE_BUSY_TIMEOUT_S = env.int("SQLITE_BUSY_TIMEOUT_S", default=20)
# FULL: a commit is fsynced before it is acknowledged, so an acknowledged sale survives a power cut, not only a
# process crash. NORMAL in WAL mode can lose the last commits on power loss.
SQLITE_SYNCHRONOUS = env.str("SQLITE_SYNCHRONOUS", default="FULL").upper()
# The nice value a thread runs at while it holds the branch's write lock (ecomarket/sqlite/base.py), so the tills
# queued behind it do not take its CPU; 0 turns it off. Needs CAP_SYS_NICE or a nice limit (systemd LimitNICE=-10);
# without either the boost is skipped and logged once.
SQLITE_WRITER_NICE = env.int("SQLITE_WRITER_NICE", default=-10)

# An empty DATABASE_URL (as .env.example leaves it) means the default, not a database without an engine.
DATABASES = {
    "default": environ.Env.db_url_config(env.str("DATABASE_URL", default="") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend, with writers queued on a kernel file lock (see ecomarket/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "ecomarket.sqlite"
    DATABASES["default"]["OPTIONS"] = {
        # BEGIN IMMEDIATE takes the write lock when a transaction starts, so two cashiers never both read and
        # then race to upgrade a read lock (which SQLite answers with "database is locked" without waiting).
        "transaction_mode": "IMMEDIATE",
        "timeout": SQLITE_BUSY_TIMEOUT_S,
        "init_command": (
            f"PRAGMA journal_mode=WAL; PRAGMA synchronous={SQLITE_SYNCHRONOUS}; "
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}; PRAGMA foreign_keys=ON;"
        ),
    }
    # Django's test runner would use an in-memory database; locking and durability need a real file.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # True when DATABASE_URL points at PgBouncer in transaction mode (harness/pgbouncer.py, README): each
    # transaction may run on another server connection, so nothing may outlive one. Server-side cursors (a
    # queryset's .iterator() outside a transaction declares one WITH HOLD) are the one session state Django would
    # create; locks are all transaction-scoped (SELECT ... FOR UPDATE, LOCK TABLE, pg_advisory_xact_lock only).
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DATABASE_TRANSACTION_POOLING", default=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The ledger's covering index (inventory.StockMovement) carries `quantity` for central's reconciliation on
# PostgreSQL; SQLite builds it without the extra column, which is all a branch needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
# `check --deploy` asks for HSTS preloading, which binds the whole domain to HTTPS for months: the domain's owner
# decides it (HSTS_PRELOAD), not the check.
SILENCED_SYSTEM_CHECKS += ["security.W021"]

# ---------------------------------------------------------------------------------------------------------------
# Internationalisation: Spanish by default (the chain's language), English selectable.
# ---------------------------------------------------------------------------------------------------------------
LANGUAGE_CODE = "es"
LANGUAGES = [("es", "Español"), ("en", "English")]
# Compiled catalogues live in the repository (locale/*/LC_MESSAGES/django.mo): no gettext needed to run.
LOCALE_PATHS = [BASE_DIR / "locale"]
# Prices are in the chain's currency; the pages show this symbol before an amount formatted per language.
FORMAT_MODULE_PATH = ["ecomarket.formats"]
# Read directly: django-environ would take a value starting with "$" for a reference to another variable.
CURRENCY_SYMBOL = os.environ.get("CURRENCY_SYMBOL", "$")
TIME_ZONE = env.str("TIME_ZONE", default="America/Argentina/Buenos_Aires")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve app static files without a collectstatic step (make run still collects them for production parity).
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

# Staff log in on the pages' own login form (cashiers have no admin access); then the POS or the dashboard.
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/pos/" if IS_BRANCH else "/dashboard/"
LOGOUT_REDIRECT_URL = "/login/"

# ---------------------------------------------------------------------------------------------------------------
# Django REST framework. Token first: it answers 401 with WWW-Authenticate for a POS device without a token.
# ---------------------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "ecomarket.auth.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ecomarket.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "ecomarket.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": f"EcoMarket {ECOMARKET_MODE.value} API",
    "DESCRIPTION": "Branch POS API" if IS_BRANCH else "Head office API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A sale's payment_method and a payment's method (cash/) are one choice set: one name in the schema.
    "ENUM_NAME_OVERRIDES": {"PaymentMethodEnum": "inventory.models.PaymentMethod"},
}

# ---------------------------------------------------------------------------------------------------------------
# Authentication throttling and passwords. API credentials are throttled per (client address, credential) by
# ecomarket.middleware.AuthFailureThrottleMiddleware (AUTH_FAILURE_LIMIT / AUTH_FAILURE_WINDOW_S, above): a valid
# credential is always served. Login forms (the pages' /login/ and admin's) are throttled by django-axes per
# (username, address), its attempts kept in the database and shown in admin. https://django-axes.readthedocs.io/
# ---------------------------------------------------------------------------------------------------------------
# How many reverse proxies (load balancer, TLS terminator) stand in front of this server. The caller's address is
# then the X-Forwarded-For entry that many places from the right; 0 (no proxy): REMOTE_ADDR is the caller.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_COOLOFF_S = env.int("LOGIN_COOLOFF_S", default=900)
INSTALLED_APPS += ["axes"]
# Innermost, so it sees the login view's outcome; it answers a locked-out login with ecomarket.views.login_locked_out.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = ["ecomarket.auth.LoginThrottleBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_COOLOFF_S)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "ecomarket.addresses.client_address"
AXES_LOCKOUT_CALLABLE = "ecomarket.views.login_locked_out"
AXES_RESET_ON_SUCCESS = True
# Checked by staff_user_create (create_staff --password), Django admin's password forms and changepassword.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ---------------------------------------------------------------------------------------------------------------
# Celery. Embedded default: kombu's filesystem transport under DATA_DIR (no server to install). Production sets
# CELERY_BROKER_URL to Redis or RabbitMQ. The broker is not a store: nothing exists only in the broker (the outbox
# sweep re-finds whatever a lost message carried).
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# ---------------------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue = DATA_DIR / "broker" / "queue"
    _processed = DATA_DIR / "broker" / "processed"
    # kombu's default control folder is "control" relative to the working directory: in the checkout.
    _control = DATA_DIR / "broker" / "control"
    for _folder in (_queue, _processed, _control):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue),
        "data_folder_out": str(_queue),
        "processed_folder": str(_processed),
        "control_folder": str(_control),
        "store_processed": False,
    }
else:
    # Publishing must never hang a caller for long while the broker is down.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 2, "socket_connect_timeout": 2, "max_retries": 1}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=120)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=100)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# django-celery-beat's scheduler at central, celery's file-backed one at a branch; in both a last run in the future
# (the clock moved back) counts as none (ecomarket/beat.py).
CELERY_BEAT_SCHEDULER = (
    "ecomarket.beat:ClockSafeDatabaseScheduler" if IS_CENTRAL else "ecomarket.beat:ClockSafeScheduler"
)

# ---------------------------------------------------------------------------------------------------------------
# The link from a branch to head office (branch mode). Pushes start on commit; the sweep catches what was missed.
# ---------------------------------------------------------------------------------------------------------------
CENTRAL_URL = env.str("CENTRAL_URL", default="http://127.0.0.1:8000")


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# A store behind a corporate proxy reaches head office through HTTPS_PROXY (and NO_PROXY, REQUESTS_CA_BUNDLE) from
# the environment; a central on this machine is never reached through one. Empty means that default.
CENTRAL_TRUST_ENV = (
    env.bool("CENTRAL_TRUST_ENV") if env.str("CENTRAL_TRUST_ENV", default="") else not _loopback(CENTRAL_URL)
)
# The chain's private CA, when head office's certificate is not signed by a public one (PEM file). Empty: the
# system's CAs, or REQUESTS_CA_BUNDLE when CENTRAL_TRUST_ENV.
CENTRAL_CA_BUNDLE = env.str("CENTRAL_CA_BUNDLE", default="")
BRANCH_CREDENTIAL = env.str("BRANCH_CREDENTIAL", default="")
SYNC_PUSH_SWEEP_S = env.float("SYNC_PUSH_SWEEP_S", default=5.0)
SYNC_PULL_INTERVAL_S = env.float("SYNC_PULL_INTERVAL_S", default=10.0)
SYNC_BACKOFF_CAP_S = env.float("SYNC_BACKOFF_CAP_S", default=15.0)
# At most one push kick per web process per interval: sales made meanwhile go in the same push.
SYNC_KICK_INTERVAL_S = env.float("SYNC_KICK_INTERVAL_S", default=0.25)
STOCK_SNAPSHOT_INTERVAL_S = env.float("STOCK_SNAPSHOT_INTERVAL_S", default=3600.0)
# A push request's body stays under this many bytes (and 500 events). Central refuses bodies over its own
# MAX_REQUEST_BODY_BYTES (2 MiB by default) with 413, so this must stay below central's value; an event larger than
# this on its own is parked with the reason instead of blocking the outbox.
SYNC_BATCH_MAX_BYTES = env.int("SYNC_BATCH_MAX_BYTES", default=1024 * 1024)

# The chain's stock at each branch (chain/): head office publishes the figures that changed at most every
# CHAIN_STOCK_PUBLISH_S (when a branch asks), comparing levels written since the previous publication less
# CHAIN_STOCK_OVERLAP_S (longer than any ingest transaction), and keeps CHAIN_STOCK_KEEP_S of publications; a branch
# further behind copies them all again. A branch pulls them every CHAIN_STOCK_PULL_INTERVAL_S and calls its replica
# stale past CHAIN_STOCK_STALE_S.
CHAIN_STOCK_PUBLISH_S = env.float("CHAIN_STOCK_PUBLISH_S", default=5.0)
CHAIN_STOCK_OVERLAP_S = env.float("CHAIN_STOCK_OVERLAP_S", default=120.0)
CHAIN_STOCK_KEEP_S = env.float("CHAIN_STOCK_KEEP_S", default=86400.0)
CHAIN_STOCK_PULL_INTERVAL_S = env.float("CHAIN_STOCK_PULL_INTERVAL_S", default=SYNC_PULL_INTERVAL_S)
CHAIN_STOCK_STALE_S = env.float("CHAIN_STOCK_STALE_S", default=900.0)
# The chain's sales of the last SALE_INDEX_DAYS days go out with the same publications, so any store takes back
# another store's sale with head office unreachable (chain/sale_index.py).
SALE_INDEX_DAYS = env.int("SALE_INDEX_DAYS", default=90)

# Backups of the branch's SQLite file (manage.py backup / restore): an online, consistent copy every
# BACKUP_INTERVAL_S into BACKUP_DIR, keeping the newest BACKUP_KEEP. Put BACKUP_DIR on another disk than DATA_DIR.
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(DATA_DIR / "backups")))
BACKUP_INTERVAL_S = env.float("BACKUP_INTERVAL_S", default=3600.0)
BACKUP_KEEP = env.int("BACKUP_KEEP", default=48)
# Each new backup is copied off the box too: into BACKUP_COPY_TO (a mounted share; the newest BACKUP_KEEP kept there)
# and/or by BACKUP_COPY_COMMAND, run without a shell with the backup's path in place of {path} (or last), e.g.
# "rclone copy {path} offsite:ecomarket/B001/"; it must finish within BACKUP_COPY_TIMEOUT_S.
BACKUP_COPY_TO = env.str("BACKUP_COPY_TO", default="")
BACKUP_COPY_COMMAND = env.str("BACKUP_COPY_COMMAND", default="")
BACKUP_COPY_TIMEOUT_S = env.float("BACKUP_COPY_TIMEOUT_S", default=600.0)
# Housekeeping (ecomarket/housekeeping.py, branches/outbox.py; nightly). A branch deletes delivered outbox events
# this many days after their delivery: head office holds them, and needs them back only if it is restored from a
# dump older than that, so keep it above the age of the oldest head office backup (60 days against head office's
# default 48 daily dumps). Both modes delete each login's record (django-axes' access log) this many days after it.
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=60)
LOGIN_LOG_RETENTION_DAYS = env.int("LOGIN_LOG_RETENTION_DAYS", default=90)
# A branch deletes its own sales (with their lines, payments, returns and refunds) and folds its stock ledger into one
# opening row per SKU this many days after they happened, once head office holds their events (inventory/
# retention.py): 400 keeps a year and a month locally, for returns, receipts reprinted and last year's same week.
# 0 keeps them for ever.
BRANCH_RECORDS_RETENTION_DAYS = env.int("BRANCH_RECORDS_RETENTION_DAYS", default=400)
# Head office empties the detail of discrepancies resolved this many days ago (the record, who resolved it and the
# note stay), and folds the hourly report roll-ups older than REPORT_HOURLY_RETENTION_DAYS into one row per day (the
# per-SKU hours go: the daily per-SKU rows hold the same); reports per hour reach back that far.
DISCREPANCY_DETAIL_RETENTION_DAYS = env.int("DISCREPANCY_DETAIL_RETENTION_DAYS", default=180)
REPORT_HOURLY_RETENTION_DAYS = env.int("REPORT_HOURLY_RETENTION_DAYS", default=90)
# ---------------------------------------------------------------------------------------------------------------
# Reconciliation (central mode): incremental every RECONCILE_INTERVAL_S, a full pass nightly (ecomarket/schedule.py;
# `manage.py install_schedule` writes central's schedule into django-celery-beat's tables, editable in admin).
# ---------------------------------------------------------------------------------------------------------------
RECONCILE_INTERVAL_S = env.int("RECONCILE_INTERVAL_S", default=60)
RECONCILE_GAP_GRACE_S = env.int("RECONCILE_GAP_GRACE_S", default=120)
RECONCILE_STALE_AFTER_S = env.int("RECONCILE_STALE_AFTER_S", default=900)
# Admission control for the sync endpoints (branches/admission.py): at most SLOTS pushes and PULL_SLOTS change-feed
# pulls at once per machine (0: that kind is not limited); one more waits up to WAIT_S for a slot of its kind in one
# of QUEUE places, and past those, or after the wait, gets 503 with Retry-After between RETRY_AFTER_S seconds and
# twice it. Keep SLOTS + PULL_SLOTS + QUEUE below the --workers of the gunicorn serving /api/v1/sync/ (central's sync
# pool, ecomarket-sync.service), so a free worker answers the refused at once while branches catch up after an outage.
SYNC_ADMISSION_SLOTS = env.int("SYNC_ADMISSION_SLOTS", default=4)
SYNC_ADMISSION_PULL_SLOTS = env.int("SYNC_ADMISSION_PULL_SLOTS", default=2)
SYNC_ADMISSION_QUEUE = env.int("SYNC_ADMISSION_QUEUE", default=4)
SYNC_ADMISSION_WAIT_S = env.float("SYNC_ADMISSION_WAIT_S", default=1.0)
SYNC_ADMISSION_RETRY_AFTER_S = env.int("SYNC_ADMISSION_RETRY_AFTER_S", default=2)

# ---------------------------------------------------------------------------------------------------------------
# Observability: logs, /metrics, /readyz and the heartbeats behind it (docs/architecture.md, "Operating a chain";
# docs/operations.md, "Watching the chain").
# https://prometheus.github.io/client_python/multiprocess/
# ---------------------------------------------------------------------------------------------------------------
# json: one object a line with request id, mode, branch and user (production); text: for a terminal (make run).
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
# Celery keeps its hands off the root logger, so its lines come out in the same format as Django's.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Every process writes its counters here and /metrics adds them up; prometheus-client reads this variable when it
# is first imported, so it is set here, before anything imports it. Under DATA_DIR by default: two servers on one
# machine never mix their counters. Central's sync pool sets its own (deploy/systemd/central/ecomarket-sync.service):
# a pool's /metrics then reports that pool alone, and Prometheus adds the pools up instead of counting them twice.
METRICS_DIR = Path(env.str("METRICS_DIR", default="") or DATA_DIR / "metrics")
METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
# Who may scrape /metrics: a bearer token, and/or addresses (IPs or CIDRs) that need no token. Neither: nobody.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOW_FROM = env.list("METRICS_ALLOW_FROM", default=[])

# Errors reach someone (ecomarket/error_reports.py): with a DSN, unhandled errors, failed tasks and ERROR log lines go
# to Sentry, scrubbed of request bodies, credentials and customers' contacts. Empty: nothing is sent.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
if SENTRY_DSN:
    from ecomarket.error_reports import sentry_init
    from ecomarket.version import VERSION

    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=f"ecomarket@{VERSION}",
        mode=ECOMARKET_MODE.value,
        branch=BRANCH_CODE if IS_BRANCH else "",
        secrets=(BRANCH_CREDENTIAL if IS_BRANCH else "", SECRET_KEY, METRICS_TOKEN),
    )

# The worker writes its heartbeat from a task beat sends every HEARTBEAT_INTERVAL_S, and beat its own each time it
# sends one; /readyz fails when either is older than HEARTBEAT_STALE_S.
HEARTBEAT_INTERVAL_S = env.float("HEARTBEAT_INTERVAL_S", default=15.0)
HEARTBEAT_STALE_S = env.float("HEARTBEAT_STALE_S", default=60.0)
# A branch is not ready when its oldest event still waiting for central is older than this.
READY_OUTBOX_MAX_AGE_S = env.float("READY_OUTBOX_MAX_AGE_S", default=900.0)

# ---------------------------------------------------------------------------------------------------------------
# Head office reports (central mode): new events are folded into hourly roll-ups every REPORTS_ROLLUP_INTERVAL_S
# (reports/models.py); the schedule is written by `install_schedule`.
# ---------------------------------------------------------------------------------------------------------------
REPORTS_ROLLUP_INTERVAL_S = env.int("REPORTS_ROLLUP_INTERVAL_S", default=30)
# The chain's on-hand per SKU (/api/v1/inventory/totals) is exact at any moment; folding the changes written since
# into the per-SKU totals this often keeps what a read adds up small (inventory/ledger.py; install_schedule).
CHAIN_STOCK_FOLD_INTERVAL_S = env.int("CHAIN_STOCK_FOLD_INTERVAL_S", default=30)
# An oversold sale's customer contact (both modes): head office erases it this long after the sale's oversell case
# is resolved (reconciliation/contacts.py, nightly), and from the raw bodies it keeps of rejected or conflicting
# events this long after it first saw them; a branch this long after the sale, once it delivered or parked the
# event (branches/outbox.py). Whatever a case's status, no contact is kept longer than CUSTOMER_CONTACT_MAX_DAYS
# after it reached head office.
CUSTOMER_CONTACT_RETENTION_DAYS = env.int("CUSTOMER_CONTACT_RETENTION_DAYS", default=30)
CUSTOMER_CONTACT_MAX_DAYS = env.int("CUSTOMER_CONTACT_MAX_DAYS", default=180)

# ---------------------------------------------------------------------------------------------------------------
# Periodic tasks: each mode's are listed once, in ecomarket/schedule.py, with the intervals set above. beat reads
# this (a branch: every task; central: the heartbeat, which its DatabaseScheduler copies into its tables at start);
# central's others are written into django-celery-beat's tables by `manage.py install_schedule`.
# ---------------------------------------------------------------------------------------------------------------
CELERY_BEAT_SCHEDULE = beat_schedule(ECOMARKET_MODE, sys.modules[__name__])
