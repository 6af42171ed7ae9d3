"""EcoMarket settings: one module for both modes, configured only by the environment (12-factor).

Every variable read here is listed in ``.env.example``. ``ECOMARKET_MODE`` selects what is installed, routed and
scheduled (DESIGN.md §1-§2).
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from ecomarket.modes import Mode, mode_parse

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

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

# Where this server keeps its SQLite file, its embedded broker and its beat schedule.
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var" / ECOMARKET_MODE.value)))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# ---------------------------------------------------------------------------------------------------------------
# Security. SECRET_KEY has no default: `make run` and the test suite make their own, production must set one.
# ---------------------------------------------------------------------------------------------------------------
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set (see .env.example); `make run` generates one under var/.")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the POS page reads it to send X-CSRFToken
# Cookies do not tell ports apart: central (:8000) and a branch (:8001) on one host would log each other out.
_SERVER_NAME = BRANCH_CODE.lower() if IS_BRANCH else "central"
SESSION_COOKIE_NAME = f"ecomarket_{_SERVER_NAME}_session"
CSRF_COOKIE_NAME = f"ecomarket_{_SERVER_NAME}_csrftoken"
AUTH_FAILURE_LIMIT = env.int("AUTH_FAILURE_LIMIT", default=20)
AUTH_FAILURE_WINDOW_S = env.int("AUTH_FAILURE_WINDOW_S", default=300)
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# A POS request is small; a sync batch of 500 events fits well inside 2 MiB. Larger bodies get 413 (see
# ecomarket.middleware.BodySizeLimitMiddleware), never a 500.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=2 * 1024 * 1024)

# ---------------------------------------------------------------------------------------------------------------
# Applications. Models are shared by both modes (the ledger has the same shape at a branch and at head office);
# what differs is routed in ecomarket/urls.py and scheduled in ecomarket/celery.py.
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
]
if IS_CENTRAL:
    INSTALLED_APPS += ["django_celery_beat", "reconciliation"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ecomarket.middleware.UnprintableInputMiddleware",
    "ecomarket.middleware.AuthFailureThrottleMiddleware",
    "ecomarket.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "ecomarket.middleware.ChainLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if IS_CENTRAL:
    # Right after static files: a sync request refused for want of a slot costs no session, auth or body parsing.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("whitenoise.middleware.WhiteNoiseMiddleware") + 1, "branches.admission.SyncAdmissionMiddleware"
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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
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
    # True when DATABASE_URL points at PgBouncer in transaction mode (ecomarket/pgbouncer.py, README): each
    # transaction may run on another server connection, so nothing may outlive one. Server-side cursors (a
    # queryset's .iterator() outside a transaction declares one WITH HOLD) are the one session state Django would
    # create; locks are all transaction-scoped (SELECT ... FOR UPDATE, LOCK TABLE, pg_advisory_xact_lock only).
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DATABASE_TRANSACTION_POOLING", default=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
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
}

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
    for _folder in (_queue, _processed):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue),
        "data_folder_out": str(_queue),
        "processed_folder": str(_processed),
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
if IS_CENTRAL:
    CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# ---------------------------------------------------------------------------------------------------------------
# The link from a branch to head office (branch mode). Pushes start on commit; the sweep catches what was missed.
# ---------------------------------------------------------------------------------------------------------------
CENTRAL_URL = env.str("CENTRAL_URL", default="http://127.0.0.1:8000")
BRANCH_CREDENTIAL = env.str("BRANCH_CREDENTIAL", default="")
SYNC_PUSH_SWEEP_S = env.float("SYNC_PUSH_SWEEP_S", default=5.0)
SYNC_PULL_INTERVAL_S = env.float("SYNC_PULL_INTERVAL_S", default=10.0)
SYNC_BACKOFF_CAP_S = env.float("SYNC_BACKOFF_CAP_S", default=15.0)
# At most one push kick per web process per interval: sales made meanwhile go in the same push.
SYNC_KICK_INTERVAL_S = env.float("SYNC_KICK_INTERVAL_S", default=0.25)
STOCK_SNAPSHOT_INTERVAL_S = env.float("STOCK_SNAPSHOT_INTERVAL_S", default=3600.0)
if IS_BRANCH:
    # `expires`: a beat message that waited longer than its own interval is dropped, so a worker that was down
    # does not wake up to a pile of identical sweeps.
    CELERY_BEAT_SCHEDULE = {
        "outbox-push-sweep": {
            "task": "branches.tasks.outbox_push_task",
            "schedule": SYNC_PUSH_SWEEP_S,
            "options": {"expires": SYNC_PUSH_SWEEP_S},
        },
        "changes-pull": {
            "task": "branches.tasks.changes_pull_task",
            "schedule": SYNC_PULL_INTERVAL_S,
            "options": {"expires": SYNC_PULL_INTERVAL_S},
        },
        "stock-snapshot": {
            "task": "branches.tasks.stock_snapshot_task",
            "schedule": STOCK_SNAPSHOT_INTERVAL_S,
            "options": {"expires": STOCK_SNAPSHOT_INTERVAL_S},
        },
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# ---------------------------------------------------------------------------------------------------------------
# Reconciliation (central mode). The schedule itself lives in django-celery-beat's tables (editable in admin);
# `manage.py install_schedule` writes it on deploy from these values.
# ---------------------------------------------------------------------------------------------------------------
RECONCILE_INTERVAL_S = env.int("RECONCILE_INTERVAL_S", default=60)
RECONCILE_GAP_GRACE_S = env.int("RECONCILE_GAP_GRACE_S", default=120)
RECONCILE_STALE_AFTER_S = env.int("RECONCILE_STALE_AFTER_S", default=900)
# Admission control for the sync endpoints (branches/admission.py): at most this many pushes and pulls at once per
# machine (0: no limit); one more gets 503 with Retry-After between this many seconds and twice it. Keep the slots
# below gunicorn's --workers so the dashboard always finds a free worker while branches catch up after an outage.
SYNC_ADMISSION_SLOTS = env.int("SYNC_ADMISSION_SLOTS", default=4)
SYNC_ADMISSION_RETRY_AFTER_S = env.int("SYNC_ADMISSION_RETRY_AFTER_S", default=2)
