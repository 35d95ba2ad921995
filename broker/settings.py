"""Django settings, read from the environment (see README's configuration table)."""
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

import dj_database_url

from broker.core.env import (
    ConfigurationError,
    env_bool,
    env_choice,
    env_days,
    env_float,
    env_int,
    env_list,
    env_optional_int,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# Everything a broker process creates (database, images, task queue, logs, keys) is the service account's only:
# 0700 folders and 0600 files from the moment they exist, in every process that loads these settings.
os.umask(0o077)
DATA_DIR = Path(env_str("BROKER_DATA_DIR", str(BASE_DIR / "var"))).resolve()
# Created 0700 when the broker makes it: it holds the secret key, the database and received images.
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _secret_key() -> str:
    configured = env_str("DJANGO_SECRET_KEY", "")
    if configured:
        return configured
    # Generated once per data directory so sessions survive restarts without a default key in code.
    key_file = DATA_DIR / "secret_key"
    try:
        # O_EXCL: of two processes starting at once only one writes; 0600 from the first byte (no chmod window).
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50))
    # The other starter may still be writing it: a few short reads until the key is there.
    for _ in range(50):
        key = key_file.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise ConfigurationError(f"{key_file} is empty: delete it (a new key is generated) or set DJANGO_SECRET_KEY")


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

# --- The broker's own settings (public interface: see README) ---
BROKER_AE_TITLE = env_str("BROKER_AE_TITLE", "BROKER")
BROKER_HOST = env_str("BROKER_HOST", "0.0.0.0")
BROKER_DICOM_PORT = env_int("BROKER_DICOM_PORT", 11112)
BROKER_HL7_PORT = env_int("BROKER_HL7_PORT", 2575)
# The listeners' TLS certificate and key (PEM); with a CA file, client certificates it signed are required.
# Read by broker.core.tls.listener_context when a TLS port is configured (docs/security.md).
BROKER_TLS_CERT = env_str("BROKER_TLS_CERT", "")
BROKER_TLS_KEY = env_str("BROKER_TLS_KEY", "")
BROKER_TLS_CA = env_str("BROKER_TLS_CA", "")
# DICOM over TLS (PS3.15 Annex B) on its own port beside the plain one, with BROKER_TLS_*; unset or 0 = off.
# 2762 is the registered DICOM TLS port. BROKER_DICOM_PLAIN=false closes the plain port (docs/security.md).
BROKER_DICOM_TLS_PORT = env_optional_int("BROKER_DICOM_TLS_PORT") or None  # unset or 0: off
BROKER_DICOM_PLAIN = env_bool("BROKER_DICOM_PLAIN", True)
BROKER_WEB_PORT = env_int("BROKER_WEB_PORT", 8000)
BROKER_TIME_ZONE = env_str("BROKER_TIME_ZONE", "Europe/Berlin")
BROKER_REQUIRE_KNOWN_AE = env_bool("BROKER_REQUIRE_KNOWN_AE", False)
BROKER_UID_ROOT = env_str("BROKER_UID_ROOT", "1.2.826.0.1.3680043.10.1455.")
BROKER_HL7_APPLICATION = env_str("BROKER_HL7_APPLICATION", "BROKER")
BROKER_HL7_FACILITY = env_str("BROKER_HL7_FACILITY", "RADIOLOGY")
BROKER_HL7_MAX_MESSAGE_BYTES = env_int("BROKER_HL7_MAX_MESSAGE_BYTES", 10 * 1024 * 1024)
BROKER_HL7_IDLE_TIMEOUT = env_float("BROKER_HL7_IDLE_TIMEOUT", 300.0)
BROKER_DICOM_MAX_ASSOCIATIONS = env_int("BROKER_DICOM_MAX_ASSOCIATIONS", 32)
BROKER_DICOM_MAX_PDU = env_int("BROKER_DICOM_MAX_PDU", 65536)
BROKER_DICOM_ACSE_TIMEOUT = env_float("BROKER_DICOM_ACSE_TIMEOUT", 30.0)
BROKER_DICOM_DIMSE_TIMEOUT = env_float("BROKER_DICOM_DIMSE_TIMEOUT", 30.0)
BROKER_DICOM_NETWORK_TIMEOUT = env_float("BROKER_DICOM_NETWORK_TIMEOUT", 60.0)
BROKER_MWL_DEFAULT_WINDOW_DAYS = env_int("BROKER_MWL_DEFAULT_WINDOW_DAYS", 1)
BROKER_MWL_MAX_RESULTS = env_int("BROKER_MWL_MAX_RESULTS", 1000)
BROKER_MWL_DEFAULT_CHARSET = env_str("BROKER_MWL_DEFAULT_CHARSET", "ISO_IR 192")
# --- MWL hardening (issue 15, hard-mwl): query budget, value limits, send deadline ---
# Database time one worklist query may take; over it the modality gets 0xC000 "query too expensive".
BROKER_MWL_QUERY_BUDGET_SECONDS = env_float("BROKER_MWL_QUERY_BUDGET_SECONDS", 5.0)
# Values one matching key may list (a '\\'-separated list of IDs or UIDs); more is refused with 0xA900.
BROKER_MWL_MAX_VALUES_PER_KEY = env_int("BROKER_MWL_MAX_VALUES_PER_KEY", 100)
# Seconds a C-FIND answer may wait for a peer that stopped reading before the association is aborted.
BROKER_MWL_SEND_TIMEOUT_SECONDS = env_float("BROKER_MWL_SEND_TIMEOUT_SECONDS", 30.0)
# Bytes of responses queued for one association (and its kernel send buffer) before waiting for the peer.
BROKER_MWL_MAX_QUEUED_BYTES = env_int("BROKER_MWL_MAX_QUEUED_BYTES", 256 * 1024)
# --- Who may see what on the worklist (issue 9, senders-scope; docs/security.md) ---
# Steps a calling AE without a worklist scope of its own sees when it is not a known (approved) remote AE:
# all (as before), none, or own-station (only steps scheduled on a station AE title equal to its own).
BROKER_MWL_UNKNOWN_AE_SCOPE = env_choice("BROKER_MWL_UNKNOWN_AE_SCOPE", "all", ("all", "none", "own-station"))
BROKER_STUDY_QUIET_SECONDS = env_int("BROKER_STUDY_QUIET_SECONDS", 60)
# A storage commitment with every instance committed completes their study (unless an MPPS of it is still in
# progress): the modality has said it is done sending them, so waiting for the quiet time only delays routing.
BROKER_STUDY_COMPLETE_ON_COMMITMENT = env_bool("BROKER_STUDY_COMPLETE_ON_COMMITMENT", True)
BROKER_ROUTING_MAX_ATTEMPTS = env_int("BROKER_ROUTING_MAX_ATTEMPTS", 8)
BROKER_RETENTION_DAYS = env_int("BROKER_RETENTION_DAYS", 7)
# The audit trail (broker.audit, docs/audit.md): false writes no audit events (for a benchmark, never in a clinic).
BROKER_AUDIT = env_bool("BROKER_AUDIT", True)
# Forwarding each event to an audit repository by syslog (docs/audit.md): empty = off; tls://host:6514 (RFC 5425,
# mutual TLS with the three files below), tcp://host:601 (RFC 6587 octet counting) or udp://host:514 (RFC 5426).
BROKER_AUDIT_SYSLOG = env_str("BROKER_AUDIT_SYSLOG", "").strip()
BROKER_AUDIT_SYSLOG_CA_FILE = env_str("BROKER_AUDIT_SYSLOG_CA_FILE", "")
BROKER_AUDIT_SYSLOG_CERT_FILE = env_str("BROKER_AUDIT_SYSLOG_CERT_FILE", "")
BROKER_AUDIT_SYSLOG_KEY_FILE = env_str("BROKER_AUDIT_SYSLOG_KEY_FILE", "")
BROKER_AUDIT_SYSLOG_TIMEOUT = env_float("BROKER_AUDIT_SYSLOG_TIMEOUT", 10.0)
if BROKER_AUDIT_SYSLOG:
    from broker.audit.syslog import BadTarget, parse_target

    try:
        parse_target(BROKER_AUDIT_SYSLOG)
    except BadTarget as exc:
        raise ConfigurationError(str(exc)) from exc

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "broker.audit",
    "worklist",
    "mpps",
    "broker.hl7",
    "broker.dicom",
    "broker.outbound",
    "broker.routing",
    "broker.commitment",
    "broker.availability",
    "broker.retention",
    "broker.dashboard",
    "broker",
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

ROOT_URLCONF = "broker.urls"
WSGI_APPLICATION = "broker.wsgi.application"

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

# --- Storage hardening (issue 15): SQLite durability, stale partial files (docs/routing.md) ---
# NORMAL survives a killed process; FULL also a power loss (one fsync per commit). PostgreSQL ignores it.
BROKER_SQLITE_SYNCHRONOUS = env_str("BROKER_SQLITE_SYNCHRONOUS", "NORMAL").strip().upper() or "NORMAL"
if BROKER_SQLITE_SYNCHRONOUS not in {"NORMAL", "FULL"}:
    raise ConfigurationError(f"BROKER_SQLITE_SYNCHRONOUS={BROKER_SQLITE_SYNCHRONOUS!r}: use NORMAL or FULL")
# A received file still in storage/.incoming after this many minutes belongs to a killed C-STORE: deleted.
BROKER_STORAGE_PART_MAX_AGE_MINUTES = env_float("BROKER_STORAGE_PART_MAX_AGE_MINUTES", 60.0)
# C-STORE of SOP classes the listener does not list (private ones, newer standard ones), stored and routed as they
# came; false: only the storage classes pynetdicom knows (docs/routing.md).
BROKER_STORAGE_ACCEPT_UNKNOWN = env_bool("BROKER_STORAGE_ACCEPT_UNKNOWN", True)

_sqlite_path = DATA_DIR / "broker.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{_sqlite_path}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the listeners read while one writes; IMMEDIATE avoids upgrade deadlocks between writers.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous={BROKER_SQLITE_SYNCHRONOUS}; PRAGMA busy_timeout=30000;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].pop("CONN_HEALTH_CHECKS", None)
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_broker.sqlite3")}
elif env_bool("DATABASE_SERVER_SIDE_BINDING", False):
    # Django's own psycopg 3 options: server-side binding, and psycopg prepares a statement shape after it
    # ran `prepare_threshold` times on a connection (every ORM query, not only the intake's).
    DATABASES["default"]["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {}), "server_side_binding": True,
                                       "prepare_threshold": env_int("DATABASE_PREPARE_THRESHOLD", 5)}
elif env_bool("DATABASE_PREPARED_STATEMENTS", True):
    # Django leaves psycopg's server-side prepared statements off (for poolers in transaction mode). The
    # intake's fast-path statement (worklist.rowsql) asks for it explicitly; a threshold no statement reaches
    # keeps every other query as Django sends it. Off: that statement is parsed and planned each time.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1

# --- HL7 new-order writes (worklist.order_writes): "statement" = the one-statement fast path for a known,
# unchanged patient (the ORM path for everything else); "orm" = the ORM path for every message.
BROKER_HL7_ORDER_WRITES = env_str("BROKER_HL7_ORDER_WRITES", "statement")
if BROKER_HL7_ORDER_WRITES not in ("statement", "orm"):
    raise ConfigurationError(f"BROKER_HL7_ORDER_WRITES must be 'statement' or 'orm', not {BROKER_HL7_ORDER_WRITES!r}")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Checked by the admin, the password change form and also `createsuperuser --noinput` (broker's own override).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = BROKER_TIME_ZONE
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)

# --- Celery: Redis when CELERY_BROKER_URL is set, otherwise a file-system transport needing no server ---
_celery_queue_dir = DATA_DIR / "celery-queue"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _celery_queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_queue_dir),
        "data_folder_out": str(_celery_queue_dir),
        "processed_folder": str(_celery_queue_dir),
        "control_folder": str(_celery_queue_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    if CELERY_BROKER_URL.startswith("redis://"):
        # kombu's Redis transport, surviving a Redis restart while tasks are unacknowledged.
        CELERY_BROKER_TRANSPORT = "broker.task_transport:Transport"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOG_LEVEL = env_str("BROKER_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"},
    },
    # A DICOM peer's malformed input is logged as one warning line, not as a traceback (broker.core.dicom_net.peer_faults).
    "filters": {"peer_faults": {"()": "broker.core.dicom_net.peer_faults.PeerFaultLogFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["peer_faults"]},
        # Tracebacks of the broker's own loggers counted for /metrics and the problems page (off the request path).
        "internal_errors": {"class": "broker.dashboard.internal_errors.InternalErrorHandler", "level": "ERROR",
                            "filters": ["peer_faults"]},
    },
    "root": {"handlers": ["console", "internal_errors"], "level": LOG_LEVEL},
    "loggers": {
        "pynetdicom": {"level": env_str("BROKER_PYNETDICOM_LOG_LEVEL", "WARNING")},
        "django.db.backends": {"level": "WARNING"},
    },
}

# --- MPPS ---
# Refuse an N-CREATE/N-SET missing a Type 2 attribute (PS3.4 Table F.7.2-1) with 0x0120; false accepts them.
BROKER_MPPS_REQUIRE_TYPE2 = env_bool("BROKER_MPPS_REQUIRE_TYPE2", True)
# An MPPS still IN PROGRESS this many hours after it started is listed as a problem: the modality's
# final N-SET never came, so its scheduled steps stay STARTED and routing waits for the quiet time.
BROKER_MPPS_STALE_HOURS = env_float("BROKER_MPPS_STALE_HOURS", 6.0)

# --- Outbound (MPPS forwarding, RIS notifications) ---
BROKER_OUTBOUND_RETRY_BASE_SECONDS = env_float("BROKER_OUTBOUND_RETRY_BASE_SECONDS", 10.0)
BROKER_OUTBOUND_RETRY_MAX_SECONDS = env_float("BROKER_OUTBOUND_RETRY_MAX_SECONDS", 3600.0)
BROKER_OUTBOUND_SWEEP_SECONDS = env_float("BROKER_OUTBOUND_SWEEP_SECONDS", 60.0)
BROKER_OUTBOUND_STUCK_SECONDS = env_float("BROKER_OUTBOUND_STUCK_SECONDS", 300.0)
BROKER_OUTBOUND_PENDING_GRACE_SECONDS = env_float("BROKER_OUTBOUND_PENDING_GRACE_SECONDS", 30.0)
BROKER_OUTBOUND_DICOM_TIMEOUT = env_float("BROKER_OUTBOUND_DICOM_TIMEOUT", 30.0)
# Instance Availability Notifications (PS3.4 Annex R) use the outbound retry, sweep and timeout settings above.
# The Retrieve AE Title an IAN names for a complete study (empty: BROKER_AE_TITLE, which holds the files); an IAN
# sent once the study is routed names the destinations' AE titles.
BROKER_IAN_RETRIEVE_AE_TITLE = env_str("BROKER_IAN_RETRIEVE_AE_TITLE", "")

# --- Dashboard ---
# Log-in everywhere: views that must stay open (login, /healthz, /metrics) say so with @login_not_required.
MIDDLEWARE += ["django.contrib.auth.middleware.LoginRequiredMiddleware"]
# Which parts /healthz checks; a web-only host in a scale-out set-up runs no listeners on 127.0.0.1.
BROKER_HEALTH_CHECKS = env_list("BROKER_HEALTH_CHECKS", ["database", "task_broker", "dicom_listener", "hl7_listener"])
BROKER_HEALTH_TIMEOUT = env_float("BROKER_HEALTH_TIMEOUT", 2.0)
# The admin's "Test connection" button (C-ECHO to a DICOM peer, an MLLP round trip to the RIS): seconds it waits.
BROKER_TEST_CONNECTION_TIMEOUT = env_float("BROKER_TEST_CONNECTION_TIMEOUT", 5.0)
# When set, /metrics wants "Authorization: Bearer <token>"; empty = open to whoever reaches the web port.
BROKER_METRICS_TOKEN = env_str("BROKER_METRICS_TOKEN", "")
# Seconds between automatic refreshes of the worklist and queue pages.
BROKER_DASHBOARD_REFRESH_SECONDS = env_int("BROKER_DASHBOARD_REFRESH_SECONDS", 20)
BROKER_DASHBOARD_PAGE_SIZE = env_int("BROKER_DASHBOARD_PAGE_SIZE", 50)
# The calling AE title /healthz uses for its C-ECHO (register it as a RemoteAE when BROKER_REQUIRE_KNOWN_AE is on).
BROKER_HEALTH_CALLING_AE = env_str("BROKER_HEALTH_CALLING_AE", "HEALTHZ")
# --- HL7 intake (docs/hl7.md) ---
# MSH-18 assumed when a message leaves it empty (HL7 says ASCII; UTF-8 is a superset and what most RISes send).
BROKER_HL7_DEFAULT_CHARSET = env_str("BROKER_HL7_DEFAULT_CHARSET", "UNICODE UTF-8")
# Assigning authority (PID-3.4) whose identifier is the Patient ID when PID-3 repeats; empty: the first one.
BROKER_HL7_PATIENT_ID_ISSUER = env_str("BROKER_HL7_PATIENT_ID_ISSUER", "")
# Threads that apply messages to the database (connections are served by one event loop).
BROKER_HL7_WORKERS = env_int("BROKER_HL7_WORKERS", 8)
# --- HL7 listener limits (issue 15, hl7; docs/hl7.md) ---
# Open MLLP connections in all and from one source address; one more is closed at once (logged, counted).
BROKER_HL7_MAX_CONNECTIONS = env_int("BROKER_HL7_MAX_CONNECTIONS", 100)
BROKER_HL7_MAX_CONNECTIONS_PER_ADDRESS = env_int("BROKER_HL7_MAX_CONNECTIONS_PER_ADDRESS", 20)
# Seconds a frame may take from its first byte to its end block (BROKER_HL7_IDLE_TIMEOUT is between frames).
BROKER_HL7_FRAME_TIMEOUT = env_float("BROKER_HL7_FRAME_TIMEOUT", 60.0)
# Bytes of unfinished frames all connections together may hold; the connection that would pass it is closed.
BROKER_HL7_MAX_BUFFERED_BYTES = env_int("BROKER_HL7_MAX_BUFFERED_BYTES", 64 * 1024 * 1024)
# --- Who may send HL7 (issue 9, senders-scope; docs/security.md) ---
# Apply a message only when an HL7 sender rule (admin, manage.py hl7senders) allows its address and MSH-3/4;
# others get AR 207 and are logged as refused. Off by default for the embedded setup: turn it on in production.
BROKER_HL7_REQUIRE_KNOWN_SENDER = env_bool("BROKER_HL7_REQUIRE_KNOWN_SENDER", False)
# --- MLLP over TLS (issue 9, hl7-tls; docs/security.md) ---
# A second MLLP port with TLS (BROKER_TLS_CERT/_KEY, mutual TLS with BROKER_TLS_CA); unset = no TLS port.
BROKER_HL7_TLS_PORT = env_optional_int("BROKER_HL7_TLS_PORT")  # unset: off; 0: a free port (tests)
# false closes the plain MLLP port (BROKER_HL7_PORT): senders must use the TLS port.
BROKER_HL7_PLAIN = env_bool("BROKER_HL7_PLAIN", True)
# --- Storage and routing (docs/routing.md) ---
BROKER_STORAGE_DIR = Path(env_str("BROKER_STORAGE_DIR", str(DATA_DIR / "storage"))).resolve()
BROKER_ROUTING_BACKOFF_SECONDS = env_float("BROKER_ROUTING_BACKOFF_SECONDS", 30.0)
BROKER_ROUTING_BACKOFF_MAX_SECONDS = env_float("BROKER_ROUTING_BACKOFF_MAX_SECONDS", 3600.0)
BROKER_ROUTING_STALE_SECONDS = env_int("BROKER_ROUTING_STALE_SECONDS", 300)
BROKER_ROUTING_SWEEP_SECONDS = env_float("BROKER_ROUTING_SWEEP_SECONDS", 30.0)
BROKER_ROUTING_TIMEOUT = env_float("BROKER_ROUTING_TIMEOUT", 30.0)
BROKER_HOUSEKEEPING_SECONDS = env_float("BROKER_HOUSEKEEPING_SECONDS", 3600.0)
# --- Storage commitment (PS3.4 Annex J; docs/routing.md "Storage commitment") ---
# A request for instances still arriving is answered once they are all stored, or after this many seconds with
# what is stored then (the rest failed, 0x0112).
BROKER_COMMITMENT_WAIT_SECONDS = env_float("BROKER_COMMITMENT_WAIT_SECONDS", 60.0)
# Seconds the listener waits after the N-ACTION response before it reports on the requesting association: a
# modality that releases at once has done so by then, and gets the report on a new association instead.
BROKER_COMMITMENT_SAME_ASSOCIATION_HOLD_SECONDS = env_float("BROKER_COMMITMENT_SAME_ASSOCIATION_HOLD_SECONDS", 1.0)
# Reports the listener holds for their requesting association at once; beyond that the worker sends them.
BROKER_COMMITMENT_LISTENER_REPORTERS = env_int("BROKER_COMMITMENT_LISTENER_REPORTERS", 32)
# Retries of a report on a new association to the modality (RemoteAE host and port): backoff, ceiling, how many.
BROKER_COMMITMENT_RETRY_BASE_SECONDS = env_float("BROKER_COMMITMENT_RETRY_BASE_SECONDS", 10.0)
BROKER_COMMITMENT_RETRY_MAX_SECONDS = env_float("BROKER_COMMITMENT_RETRY_MAX_SECONDS", 600.0)
BROKER_COMMITMENT_MAX_ATTEMPTS = env_int("BROKER_COMMITMENT_MAX_ATTEMPTS", 30)
BROKER_COMMITMENT_DICOM_TIMEOUT = env_float("BROKER_COMMITMENT_DICOM_TIMEOUT", 30.0)
# A report RUNNING this long has lost its worker; a pending one this old has lost its task (the sweep takes them).
BROKER_COMMITMENT_STUCK_SECONDS = env_float("BROKER_COMMITMENT_STUCK_SECONDS", 300.0)
BROKER_COMMITMENT_PENDING_GRACE_SECONDS = env_float("BROKER_COMMITMENT_PENDING_GRACE_SECONDS",
                                                    BROKER_COMMITMENT_WAIT_SECONDS + 30.0)
BROKER_COMMITMENT_SWEEP_SECONDS = env_float("BROKER_COMMITMENT_SWEEP_SECONDS", 30.0)
# --- Modality Worklist / DICOM listener ---
# Acknowledge each incoming TCP segment at once (TCP_QUICKACK) so peers with Nagle on do not stall.
BROKER_DICOM_QUICKACK = env_bool("BROKER_DICOM_QUICKACK", True)
# Listener processes sharing the DICOM port (SO_REUSEPORT): more than one uses more than one core.
BROKER_DICOM_PROCESSES = env_int("BROKER_DICOM_PROCESSES", 1)
# Threads doing the DICOM listener's database work (each keeps one database connection).
BROKER_DICOM_DB_THREADS = env_int("BROKER_DICOM_DB_THREADS", 4)
# --- pynetdicom's room (broker/core/dicom_net, docs/mwl.md) ---
# "allow": start the listener / open router associations on a pynetdicom not in dicom_net.version.TESTED_VERSIONS.
BROKER_PYNETDICOM_UNTESTED = env_str("BROKER_PYNETDICOM_UNTESTED", "refuse").strip().lower()
if BROKER_PYNETDICOM_UNTESTED not in {"refuse", "allow"}:
    raise ConfigurationError(f"BROKER_PYNETDICOM_UNTESTED={BROKER_PYNETDICOM_UNTESTED!r}: use refuse or allow")
# --- DICOM association limits (broker/core/dicom_net/transport_limits.py, docs/mwl.md) ---
# Seconds a PDU may take from its first byte to its last; a peer that stalls mid-PDU is disconnected.
BROKER_DICOM_PDU_TIMEOUT = env_float("BROKER_DICOM_PDU_TIMEOUT", 30.0)
# Open DICOM connections at most (associations and connections still sending their request); more are closed.
BROKER_DICOM_MAX_CONNECTIONS = env_int("BROKER_DICOM_MAX_CONNECTIONS", 4 * BROKER_DICOM_MAX_ASSOCIATIONS)
# listen() backlog of the DICOM port (Linux caps it at net.core.somaxconn).
BROKER_DICOM_LISTEN_BACKLOG = env_int("BROKER_DICOM_LISTEN_BACKLOG", 256)
# Called AE titles accepted besides BROKER_AE_TITLE (scanners configured with another one), or any at all.
BROKER_DICOM_CALLED_AE_ALIASES = [t.strip() for t in env_list("BROKER_DICOM_CALLED_AE_ALIASES", [])]
BROKER_DICOM_ACCEPT_ANY_CALLED_AE = env_bool("BROKER_DICOM_ACCEPT_ANY_CALLED_AE", False)
# Concurrent associations per calling AE title and per source address; 0 = no cap beyond MAX_ASSOCIATIONS.
BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE = env_int("BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE", 16)
BROKER_DICOM_MAX_ASSOCIATIONS_PER_ADDRESS = env_int("BROKER_DICOM_MAX_ASSOCIATIONS_PER_ADDRESS", 24)
# Auto-registered (unknown) AE titles recorded at most; further new titles are refused/served unrecorded.
BROKER_DICOM_MAX_UNKNOWN_AES = env_int("BROKER_DICOM_MAX_UNKNOWN_AES", 200)
# An MPPS N-SET from another AE than the step's creator is refused unless this is on.
BROKER_MPPS_ALLOW_OTHER_AE_SET = env_bool("BROKER_MPPS_ALLOW_OTHER_AE_SET", False)
# Sender of SEND jobs: "pynetdicom", "dcmtk" (DCMTK dcmsend, several times faster) or "auto" (dcmtk when dcmsend is on PATH).
BROKER_ROUTING_SENDER = env_str("BROKER_ROUTING_SENDER", "auto").strip().lower() or "auto"
if BROKER_ROUTING_SENDER not in {"auto", "dcmtk", "pynetdicom"}:
    raise ConfigurationError(f"BROKER_ROUTING_SENDER={BROKER_ROUTING_SENDER!r}: use auto, dcmtk or pynetdicom")
# Instances per dcmsend run (one association); confirmations are recorded as responses arrive.
BROKER_ROUTING_DCMSEND_BATCH = env_int("BROKER_ROUTING_DCMSEND_BATCH", 500)
# --- Web server and supervisor (runbroker, broker/gunicorn_conf.py; README) ---
# gunicorn worker processes and threads in each: a slow client holds one thread, not a whole worker.
BROKER_WEB_WORKERS = env_int("BROKER_WEB_WORKERS", 2)
BROKER_WEB_THREADS = env_int("BROKER_WEB_THREADS", 32)
# Seconds a request's line and headers may take to arrive (slowloris), a later read or write may wait for the
# client, and a worker may stay silent before gunicorn's master replaces it.
BROKER_WEB_TIMEOUT = env_int("BROKER_WEB_TIMEOUT", 30)
# Seconds an idle keep-alive connection stays open; connections per worker beyond which new ones queue.
BROKER_WEB_KEEPALIVE = env_int("BROKER_WEB_KEEPALIVE", 5)
BROKER_WEB_MAX_CONNECTIONS = env_int("BROKER_WEB_MAX_CONNECTIONS", 1000)

# --- Retention of the logs (broker/retention; README "Retention of the logs", docs/retention.md) ---
# Days each log is kept; 0 = forever. Rows still needed (open orders, unresolved problems, MPPS in progress) stay.
# The problems page lists refused HL7 messages' reused control IDs and refused MPPS of the last 7 days.
BROKER_RETENTION_HL7_DAYS = env_days("BROKER_RETENTION_HL7_DAYS", 180, 7)
BROKER_RETENTION_QUERIES_DAYS = env_days("BROKER_RETENTION_QUERIES_DAYS", 30, 1)
BROKER_RETENTION_MPPS_JOURNAL_DAYS = env_days("BROKER_RETENTION_MPPS_JOURNAL_DAYS", 180, 7)
BROKER_RETENTION_AUDIT_DAYS = env_days("BROKER_RETENTION_AUDIT_DAYS", 2190, 1)
# Rows deleted per statement (one transaction each) and seconds one purge run may take before it stops.
BROKER_RETENTION_BATCH = env_int("BROKER_RETENTION_BATCH", 1000)
BROKER_RETENTION_RUN_SECONDS = env_float("BROKER_RETENTION_RUN_SECONDS", 60.0)
BROKER_RETENTION_INTERVAL_SECONDS = env_float("BROKER_RETENTION_INTERVAL_SECONDS", 3600.0)
if BROKER_RETENTION_BATCH < 1 or BROKER_RETENTION_RUN_SECONDS <= 0:
    raise ConfigurationError("BROKER_RETENTION_BATCH must be 1 or more and BROKER_RETENTION_RUN_SECONDS above 0")
# /metrics folds log rows older than this into running totals (broker/retention/tallies.py): a row's transaction
# must have committed by then, so the totals never skip a row committed late.
BROKER_METRICS_SETTLE_SECONDS = env_float("BROKER_METRICS_SETTLE_SECONDS", 300.0)

# The worker's periodic tasks (celery beat), by task name: the settings name them, the apps own them.
CELERY_BEAT_SCHEDULE = {
    "routing-sweep": {"task": "broker.routing.tasks.sweep", "schedule": BROKER_ROUTING_SWEEP_SECONDS},
    "routing-retention": {"task": "broker.routing.tasks.delete_expired_files", "schedule": BROKER_HOUSEKEEPING_SECONDS},
    "outbound-sweep": {"task": "outbound.sweep", "schedule": BROKER_OUTBOUND_SWEEP_SECONDS},
    "audit-forward-sweep": {"task": "audit.sweep_forwards", "schedule": BROKER_OUTBOUND_SWEEP_SECONDS},
    "availability-sweep": {"task": "availability.sweep", "schedule": BROKER_OUTBOUND_SWEEP_SECONDS},
    "commitment-sweep": {"task": "broker.dicom.tasks.sweep_commitments", "schedule": BROKER_COMMITMENT_SWEEP_SECONDS},
    "log-retention": {"task": "broker.retention.tasks.purge_expired", "schedule": BROKER_RETENTION_INTERVAL_SECONDS},
}

# --- The web side under a security policy (issue 9, web-data; docs/security/web-data.md) ---
# HTTPS: gunicorn serves it itself when BROKER_TLS_CERT and _KEY are set (broker/gunicorn_conf.py); behind a
# TLS proxy set BROKER_WEB_TLS=true. Either way the cookies are sent over HTTPS only and browsers get HSTS.
BROKER_WEB_TLS = env_bool("BROKER_WEB_TLS", bool(BROKER_TLS_CERT and BROKER_TLS_KEY))
BROKER_WEB_HSTS_SECONDS = env_int("BROKER_WEB_HSTS_SECONDS", 31536000)
# The header a TLS proxy sets to "https" (e.g. X-Forwarded-Proto); trust it only when the proxy always sets it.
BROKER_WEB_PROXY_SSL_HEADER = env_str("BROKER_WEB_PROXY_SSL_HEADER", "").strip()
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = BROKER_WEB_TLS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = BROKER_WEB_HSTS_SECONDS if BROKER_WEB_TLS else 0
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if BROKER_WEB_PROXY_SSL_HEADER:
    if not all(c.isalnum() or c == "-" for c in BROKER_WEB_PROXY_SSL_HEADER):
        raise ConfigurationError(f"BROKER_WEB_PROXY_SSL_HEADER={BROKER_WEB_PROXY_SSL_HEADER!r}: give a header name "
                                 "such as X-Forwarded-Proto")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + BROKER_WEB_PROXY_SSL_HEADER.upper().replace("-", "_"), "https")
# Minutes without a request of the user's own (the pages' auto-refresh does not count) before the session ends.
BROKER_SESSION_IDLE_MINUTES = env_int("BROKER_SESSION_IDLE_MINUTES", 30)
if BROKER_SESSION_IDLE_MINUTES < 1:
    raise ConfigurationError(f"BROKER_SESSION_IDLE_MINUTES={BROKER_SESSION_IDLE_MINUTES}: give 1 or more minutes")
SESSION_COOKIE_AGE = BROKER_SESSION_IDLE_MINUTES * 60
# Log-in throttling (django-axes): after this many failures for one user name, or from one address, log-in is
# refused for BROKER_LOGIN_LOCKOUT_MINUTES, on the dashboard and the admin alike.
BROKER_LOGIN_FAILURE_LIMIT = env_int("BROKER_LOGIN_FAILURE_LIMIT", 5)
BROKER_LOGIN_LOCKOUT_MINUTES = env_int("BROKER_LOGIN_LOCKOUT_MINUTES", 15)
INSTALLED_APPS += ["axes"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = BROKER_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=BROKER_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks: a user under attack, or an attacking host
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Idle sessions end (after authentication), every page says no-store and carries the Content-Security-Policy;
# axes comes last, as it asks.
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                  "broker.dashboard.web_security.IdleSessionMiddleware")
MIDDLEWARE += ["broker.dashboard.web_security.SecurityHeadersMiddleware", "axes.middleware.AxesMiddleware"]
# Patient names and birth dates stay out of log lines (records are named by ids); true restores them for debugging.
BROKER_LOG_PHI = env_bool("BROKER_LOG_PHI", False)
if not BROKER_LOG_PHI:
    LOGGING["filters"]["phi"] = {"()": "broker.core.log_phi.RedactPersonNames"}
    for _handler in LOGGING["handlers"].values():
        _handler["filters"] = [*_handler.get("filters", []), "phi"]
# The project's own commands first: its createsuperuser (validators also with --noinput) replaces Django's.
INSTALLED_APPS.remove("broker")
INSTALLED_APPS.insert(0, "broker")
