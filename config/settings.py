"""Settings for the sagascope project, read from the environment (12-factor).

With no environment at all this is the embedded default: a SQLite file, the in-memory
channel layer, and a development SECRET_KEY that `manage.py check --deploy` flags.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# The "django-insecure-" prefix makes `check --deploy` warn (security.W009) until a real
# key comes from the environment.
SECRET_KEY = os.environ.get("SECRET_KEY") or "django-insecure-sagascope-development-key-only"
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    # Login throttling: failed logins counted per account and per address (see below).
    "axes",
    # Serves the API docs' scripts from static/, so they run under the CSP (no CDN, no inline).
    "ninja",
    "sagas",
    "sagas.demo",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost but one: it must see the API's errors from every layer below it.
    "sagas.api.middleware.JsonApiErrors",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: it refuses a locked-out login before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of one
        # failing with "database is locked" halfway through a transaction.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Above channels-redis's 5 s blocking pop: redis-py 8 reads with a 5 s
                # timeout by default, which broke every idle socket every 10 s
                # (redis/redis-py#4091).
                # redis-py 8 caps a pool at 100 connections and refuses the 101st: a
                # daphne with a hundred pages connecting at once answered them 500.
                "hosts": [
                    {
                        "address": os.environ["REDIS_URL"],
                        "socket_timeout": 30,
                        "max_connections": 1000,
                    }
                ],
                # Distinct prefixes keep deployments (or test runs) sharing one Redis apart.
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX") or "sagascope",
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "static"

# Login throttling (django-axes). LOGIN_FAILURE_LIMIT failed logins for one username, or
# from one client address, within LOGIN_COOLOFF_MINUTES lock that username (or address)
# out until the failures are that old; a locked-out attempt is refused, right password or
# not, without checking it. Successful logins do not reset the count: with lockout by
# address as well, a login to an attacker's own account would wipe the failures from its
# address, those against other accounts included. The address is REMOTE_ADDR: behind a
# reverse proxy, run daphne with --proxy-headers so that it is the client's (see README).
AXES_ENABLED = env_bool("LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT") or "5")
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_COOLOFF_MINUTES") or "15"))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False
# A refused attempt during the lockout does not prolong it: "try again in N minutes" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "dashboard.lockout.locked_out"
# No table of every successful login (it would grow without bound and hold addresses).
AXES_DISABLE_ACCESS_LOG = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# HTTPS hardening, off by default so that the embedded demo works over plain http on
# localhost; a deployment behind TLS turns each on from the environment (see the README).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS") or "0")
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind a proxy that terminates TLS, the header saying the original request was https
# (e.g. HTTP_X_FORWARDED_PROTO); without it SECURE_SSL_REDIRECT would redirect forever.
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (os.environ["SECURE_PROXY_SSL_HEADER"], "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Request bodies above this size are refused (413 from the API) before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(256 * 1024)))

# The engine's knobs; see sagas/conf.py for what each one does and its default.
SAGASCOPE_LEASE_SECONDS = float(os.environ.get("SAGASCOPE_LEASE_SECONDS", "30"))
SAGASCOPE_POLL_INTERVAL = float(os.environ.get("SAGASCOPE_POLL_INTERVAL", "1.0"))
SAGASCOPE_BATCH_SIZE = int(os.environ.get("SAGASCOPE_BATCH_SIZE", "50"))

# Knobs read only when the environment sets them; sagas/conf.py and dashboard/conf.py
# hold their defaults and say what each one does.
for _name, _type in {
    "SAGASCOPE_RELAY_VISIBILITY": float,
    "SAGASCOPE_RELAY_TIMEOUT": float,
    "SAGASCOPE_CIRCUIT_FAILURES": int,
    "SAGASCOPE_CIRCUIT_COOLDOWN": float,
    "SAGASCOPE_CIRCUIT_MAX_COOLDOWN": float,
    "SAGASCOPE_ABANDON_AFTER": float,
    "SAGASCOPE_HEARTBEAT_SECONDS": float,
    "SAGASCOPE_FORGET_PROCESSES_AFTER": float,
    "SAGASCOPE_LIVE_FRAME_BURST": int,
    "SAGASCOPE_LIVE_FRAMES_PER_SECOND": float,
    "SAGASCOPE_LIVE_SOCKETS_PER_USER": int,
    "SAGASCOPE_LIVE_REPLAY_WINDOW": int,
    "SAGASCOPE_ALERT_INTERVAL": float,
    "SAGASCOPE_ALERT_TIMEOUT": float,
    "SAGASCOPE_ALERT_MAX_ATTEMPTS": int,
    "SAGASCOPE_ALERT_BACKOFF": float,
    "SAGASCOPE_PRUNE_INTERVAL": float,
    "SAGASCOPE_PRUNE_BATCH": int,
    "SAGASCOPE_REPLAY_KEYS_DAYS": float,
    "SAGASCOPE_LOADED_KEEP_DAYS": float,
}.items():
    if os.environ.get(_name):
        globals()[_name] = _type(os.environ[_name])

# Workers evaluate alert rules and deliver alerts unless SAGASCOPE_ALERTS=0.
SAGASCOPE_ALERTS = os.environ.get("SAGASCOPE_ALERTS", "1") != "0"
# Retention (README "Retention and archives"): workers archive then delete finished sagas
# past their retention unless SAGASCOPE_PRUNE=0; archives go under SAGASCOPE_ARCHIVE_DIR.
# Retention per type and outcome, in days: SAGASCOPE_RETENTION in a settings module, e.g.
# {"order": {"completed": 7}, "*": {"cancelled": 90}} (default 30 days each, None: never).
SAGASCOPE_PRUNE = env_bool("SAGASCOPE_PRUNE", True)
SAGASCOPE_ARCHIVE_DIR = os.environ.get("SAGASCOPE_ARCHIVE_DIR", str(BASE_DIR / "archive"))
# Or an S3-compatible bucket, "s3://bucket/prefix" (needs the s3 extra, boto3), with its
# endpoint for a service other than AWS (MinIO...); credentials as boto3 finds them.
SAGASCOPE_ARCHIVE_BUCKET = os.environ.get("SAGASCOPE_ARCHIVE_BUCKET", "")
SAGASCOPE_ARCHIVE_ENDPOINT_URL = os.environ.get("SAGASCOPE_ARCHIVE_ENDPOINT_URL", "")
# Alert email: Django's backend (EMAIL_HOST etc. as usual); the sender's address.
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "sagascope@localhost")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))

# Messaging: participants reached over HTTP, and their HMAC secrets (never in the repo).
# "name=url,..." and "name=secret,..."; a participant without a URL uses the database.
SAGASCOPE_PARTICIPANT_URLS = os.environ.get("SAGASCOPE_PARTICIPANT_URLS", "")
SAGASCOPE_PARTICIPANT_SECRETS = os.environ.get("SAGASCOPE_PARTICIPANT_SECRETS", "")
# The key of the hashes search compares for sensitive fields (sagas/sensitive.py); unset,
# one is derived from SECRET_KEY. Changing it makes stored hashes unmatchable until the
# sagas are started or edited again.
SAGASCOPE_SENSITIVE_KEY = os.environ.get("SAGASCOPE_SENSITIVE_KEY", "")

# /metrics: a scraper sends "Authorization: Bearer <token>", or comes from an allowed
# address or network ("10.0.0.0/8,127.0.0.1"); with neither, only DEBUG opens it (localhost).
SAGASCOPE_METRICS_TOKEN = os.environ.get("SAGASCOPE_METRICS_TOKEN", "")
SAGASCOPE_METRICS_ALLOW = os.environ.get("SAGASCOPE_METRICS_ALLOW", "")
# Off only to measure what the /metrics totals cost (bench/throughput.py --observability).
SAGASCOPE_METRICS_COUNTERS = env_bool("SAGASCOPE_METRICS_COUNTERS", True)
# The worker's few hot statements are prepared on PostgreSQL; off behind a pooler in
# transaction mode that cannot keep prepared statements (PgBouncer before 1.21).
SAGASCOPE_PREPARED_STATEMENTS = env_bool("SAGASCOPE_PREPARED_STATEMENTS", True)

# Where the dashboard and the API link each saga's trace.
JAEGER_UI_URL = os.environ.get("JAEGER_UI_URL", "http://localhost:16686")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
        # Failed logins and lockouts are WARNING; its INFO lines are routine.
        "axes": {"level": "WARNING"},
    },
}
