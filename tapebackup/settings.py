"""tapebackup settings: everything comes from the environment, with safe defaults.

The embedded default needs no configuration at all: SQLite (WAL) and the virtual tape
library under ``TAPEBACKUP_DATA_DIR``. `.env.example` lists every variable.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from tapebackup.env import env_bool, env_int, env_list, env_str, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("TAPEBACKUP_DATA_DIR", str(BASE_DIR / "var"))).resolve()
VTL_ROOT = DATA_DIR / "vtl"

SECRET_KEY = secret_key(DATA_DIR)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "django_crontab",
    "tapes",
    "backups",
    "scheduling",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tapebackup.urls"
WSGI_APPLICATION = "tapebackup.wsgi.application"

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
            ],
        },
    },
]


def _databases() -> dict:
    url = env_str("DATABASE_URL")
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{DATA_DIR / 'tapebackup.sqlite3'}"
    try:
        db = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0))
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL is not a database URL I understand: {exc}") from None
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # The web process and a qcluster share the file: WAL lets readers and one writer work
        # at once, IMMEDIATE makes write transactions wait for the lock instead of failing
        # with "database is locked" (reference/django-q2.md §5, experiment E17).
        db["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # Tests use a file, not memory, so qcluster subprocesses and heartbeat threads see
        # the test database (tests/scheduling/clusters.py).
        db["TEST"] = {"NAME": str(DATA_DIR / "test_tapebackup.sqlite3")}
    elif db["ENGINE"].startswith("django.db.backends.postgresql"):
        # bin/test names the test database per run, so two runs on one server don't drop
        # each other's database; empty means Django's default test_<name>.
        db["TEST"] = {"NAME": env_str("TAPEBACKUP_TEST_DB_NAME") or None}
    else:
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL or SQLite.")
    return {"default": db}


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-q2 keeps cluster stats in the cache; it must be shared between processes.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "tapebackup_cache",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")  # cron schedules are read in this zone
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "admin:login"

# Email, for notifications (failures, waiting for media, health changes).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tapebackup@localhost")
TAPEBACKUP_NOTIFY_EMAILS = env_list("TAPEBACKUP_NOTIFY_EMAILS", [])

# Production hardening; `check --deploy` is clean when these are on (docs/deploy.md).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# /metrics answers only requests bearing this token ("Authorization: Bearer …") when set;
# empty leaves it to the web server's allow-list (docs/deploy.md).
TAPEBACKUP_METRICS_TOKEN = env_str("TAPEBACKUP_METRICS_TOKEN")

# This node's name: it owns the drives whose `node` field matches, and its drive jobs go to
# the django-q2 cluster of that name.
TAPEBACKUP_NODE = env_str("TAPEBACKUP_NODE", "local")

# django-q2 with the ORM broker on the default database (no Redis). `retry` is a lease, not
# a delay: it must exceed the longest wait-in-queue plus run time, or a running job is handed
# out again (reference/django-q2.md §0-§1). Our broker (scheduling.broker.TapeORM) leases each
# task for its own timeout plus a margin and never prefetches; job runs also claim themselves,
# so a duplicate delivery is harmless (docs/scheduling.md).
Q_CLUSTER_NAME = env_str("Q_CLUSTER_NAME")
_JOB_TIMEOUT = env_int("TAPEBACKUP_JOB_TIMEOUT", 48 * 3600, minimum=1)
TAPEBACKUP_JOB_TIMEOUT = _JOB_TIMEOUT
TAPEBACKUP_LEASE_MARGIN = env_int("TAPEBACKUP_LEASE_MARGIN", 3600, minimum=1)
# Storage nodes that run their own cluster (Q_CLUSTER_NAME=<node>) for their drives' jobs.
# Empty (the embedded default): one cluster, the default one, runs everything.
TAPEBACKUP_NODES = env_list("TAPEBACKUP_NODES", [])
_Q_POLL = float(env_str("Q_POLL", "1") or 1)  # tests shorten it
Q_CLUSTER = {
    "name": "tapebackup",
    "orm": "default",
    "cache": "default",
    # Q_BROKER_CLASS exists for one test (tests/scheduling/test_clusters.py): the stock broker
    # hands a long run out again, and the run's claim still makes it execute once.
    "broker_class": env_str("Q_BROKER_CLASS", "scheduling.broker.TapeORM"),
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": _JOB_TIMEOUT,
    "retry": _JOB_TIMEOUT + TAPEBACKUP_LEASE_MARGIN,
    "max_attempts": 1,  # our job runs decide retries, never the broker
    "ack_failures": True,
    "queue_limit": 1,
    "poll": _Q_POLL,
    "catch_up": False,
    "save_limit": 0,
    "time_zone": "UTC",  # our schedules carry their own zone (scheduling/cron.py)
    "label": "Task queue (transport)",
    # Must exist even when empty: with Q_CLUSTER_NAME set and no ALT_CLUSTERS key django-q2
    # raises KeyError in every process (reference/django-q2.md §3, E15).
    "ALT_CLUSTERS": {},
}
# A node's cluster runs its drives' jobs: as many workers as it has drives (Q_WORKERS), and
# no scheduler (the default cluster fires the scheduler tick).
for _node in {*TAPEBACKUP_NODES, Q_CLUSTER_NAME} - {"", Q_CLUSTER["name"]}:
    Q_CLUSTER["ALT_CLUSTERS"][_node] = {"queue_limit": 1, "scheduler": False}
# A test-only "sleep" job kind (scheduling/kinds.py) for the multi-process tests.
TAPEBACKUP_TEST_JOB_KINDS = env_bool("TAPEBACKUP_TEST_JOB_KINDS", False)
# Job runs: heartbeat interval, when a silent run counts as dead, log size, media deadline.
TAPEBACKUP_HEARTBEAT_SECONDS = float(env_str("TAPEBACKUP_HEARTBEAT_SECONDS", "15") or 15)
TAPEBACKUP_STALE_SECONDS = float(env_str("TAPEBACKUP_STALE_SECONDS", "180") or 180)
TAPEBACKUP_CLUSTER_HEARTBEAT_SECONDS = float(
    env_str("TAPEBACKUP_CLUSTER_HEARTBEAT_SECONDS", "10") or 10)
TAPEBACKUP_CLUSTER_STALE_SECONDS = env_int("TAPEBACKUP_CLUSTER_STALE_SECONDS", 120, minimum=1)
TAPEBACKUP_LOG_MAX_BYTES = env_int("TAPEBACKUP_LOG_MAX_BYTES", 64 * 1024, minimum=1024)
TAPEBACKUP_MEDIA_DEADLINE_SECONDS = env_int(
    "TAPEBACKUP_MEDIA_DEADLINE_SECONDS", 24 * 3600, minimum=60)
# History kept by the daily pruning (scheduling.history): finished job runs, health
# reports, django-q2's task rows.
TAPEBACKUP_RUN_HISTORY_DAYS = env_int("TAPEBACKUP_RUN_HISTORY_DAYS", 400, minimum=1)
TAPEBACKUP_HEALTH_HISTORY_DAYS = env_int("TAPEBACKUP_HEALTH_HISTORY_DAYS", 90, minimum=1)
TAPEBACKUP_TASK_HISTORY_DAYS = env_int("TAPEBACKUP_TASK_HISTORY_DAYS", 30, minimum=1)
# Database connections loading a backup's catalog rows in parallel (PostgreSQL; COPY):
# index maintenance on the server is most of a row's cost, one connection one process.
TAPEBACKUP_CATALOG_CONNECTIONS = env_int("TAPEBACKUP_CATALOG_CONNECTIONS", 2, minimum=1)
# Processes creating files in a large restore into a new or empty directory
# (backups.extract_parallel); 0 restores in the job's own process.
TAPEBACKUP_RESTORE_WORKERS = env_int("TAPEBACKUP_RESTORE_WORKERS", 2, minimum=0)
# How often a backup that waits for its next tape mid-set looks for one.
TAPEBACKUP_MEDIA_POLL_SECONDS = env_int("TAPEBACKUP_MEDIA_POLL_SECONDS", 10, minimum=1)

# The per-host watchdog, installed into the crontab with `manage.py crontab add`. Its wrapper
# exits non-zero and writes to stderr on alerts, which cron mails (django-crontab itself
# swallows exceptions: reference/django-q2.md §6).
CRONJOBS = [
    ("*/5 * * * *", "scheduling.watchdog.watchdog_cron"),
]
# Cron does not see the service's environment: e.g. "set -a; . /etc/tapebackup/env; set +a;"
CRONTAB_COMMAND_PREFIX = env_str("CRONTAB_COMMAND_PREFIX")
CRONTAB_COMMENT = "tapebackup watchdog"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
