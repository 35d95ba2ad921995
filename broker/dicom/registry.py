"""The remote AE registry at association time: record who calls, refuse unknown AEs when configured.

The record is attached to the association so every service handler of that association reads the
calling AE's settings (character set, allowed services) without another query.
"""
import ipaddress
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from pydicom import Dataset

from broker.audit import events as audit_events
from broker.audit.models import AuditEvent
from broker.audit.trail import record as audit
from broker.core.dicom_net.association import listener_associations, reject
from broker.dicom import db_work
from broker.dicom.error_comment import error_comment
from broker.dicom.models import RemoteAE
from worklist.mwl.scope import ALL, Scope

log = logging.getLogger(__name__)

# last_seen is refreshed at most this often: a busy scanner must not turn every association into a write.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
ATTRIBUTE = "broker_remote_ae"

# A-ASSOCIATE-RJ (result, source, reason; PS3.8 9.3.4): rejected-permanent, service-user, calling AE title
# not recognized / called AE title not recognized; rejected-transient, service-provider (presentation),
# local limit exceeded (a modality retries that one later).
REJECT_CALLING_AE_UNKNOWN = (0x01, 0x01, 0x03)
REJECT_CALLED_AE_UNKNOWN = (0x01, 0x01, 0x07)
REJECT_LOCAL_LIMIT = (0x02, 0x03, 0x02)


def calling_ae_title(assoc) -> str:
    title = assoc.requestor.primitive.calling_ae_title if assoc.requestor.primitive else assoc.requestor.ae_title
    return (title or "").strip()


def peer_of(assoc) -> str:
    return f"{assoc.requestor.address}:{assoc.requestor.port}"


# Registry rows are read at every association; a few seconds of staleness after an admin edit is fine.
CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, RemoteAE]] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def remember_cached(ae_title: str, host: str) -> RemoteAE:
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(ae_title)
    if cached and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    remote = db_work.run(remember, ae_title, host)
    with _cache_lock:
        _cache[ae_title] = (now, remote)
    return remote


def remember(ae_title: str, host: str) -> RemoteAE:
    """The registry row for `ae_title`, created (auto-registered) on first contact; last_seen kept fresh.

    At most BROKER_DICOM_MAX_UNKNOWN_AES auto-registered rows exist: beyond that a new title is answered with
    an unsaved row (treated as unknown), so callers inventing titles cannot grow the registry without bound."""
    now = timezone.now()
    remote = RemoteAE.objects.filter(ae_title=ae_title).first()
    if remote is None and RemoteAE.objects.filter(auto_registered=True).count() >= settings.BROKER_DICOM_MAX_UNKNOWN_AES:
        log.warning("calling AE %s from %s not recorded: %s auto-registered AEs already (BROKER_DICOM_MAX_UNKNOWN_AES)",
                    ae_title, host, settings.BROKER_DICOM_MAX_UNKNOWN_AES)
        return RemoteAE(ae_title=ae_title, host=host, auto_registered=True)
    created = False
    if remote is None:
        try:
            remote, created = RemoteAE.objects.get_or_create(
                ae_title=ae_title, defaults={"host": host, "auto_registered": True, "last_seen": now,
                                             "description": "recorded on first association"})
        except IntegrityError:  # two first associations at once: the other one created the row
            remote = RemoteAE.objects.get(ae_title=ae_title)
    if created:
        log.info("new calling AE %s from %s recorded", ae_title, host)
    elif remote.last_seen is None or now - remote.last_seen > LAST_SEEN_RESOLUTION:
        RemoteAE.objects.filter(pk=remote.pk).update(last_seen=now)
        remote.last_seen = now
    return remote


def is_known(remote: RemoteAE) -> bool:
    """Known = configured by staff (an auto-registered row becomes known by the admin action "approve")."""
    return not remote.auto_registered


def called_ae_title(assoc) -> str:
    primitive = assoc.requestor.primitive
    return (primitive.called_ae_title if primitive else "").strip()


def called_title_accepted(called: str) -> bool:
    """The broker's own AE title, one of BROKER_DICOM_CALLED_AE_ALIASES, or anything when the site says so."""
    if settings.BROKER_DICOM_ACCEPT_ANY_CALLED_AE:
        return True
    return called in {settings.BROKER_AE_TITLE.strip(), *settings.BROKER_DICOM_CALLED_AE_ALIASES}


def host_matches(remote: RemoteAE | None, address: str) -> bool:
    """A registered AE's optional host binding: empty, a host address, or a network (CIDR); auto rows are unbound."""
    if remote is None or remote.auto_registered or not remote.host_binding:
        return True
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(remote.host_binding.strip(), strict=False)
    except ValueError:
        log.warning("remote AE %s: host binding %r is not an address or network; no call is accepted",
                    remote.ae_title, remote.host_binding)
        return False


_admitted_lock = threading.Lock()
ADMITTED = "broker_admitted"


def _over_a_cap(assoc, title: str) -> str:
    """Why this association would exceed a concurrency cap (in total, per calling AE, per address), or "";
    admits it if not."""
    # The plain and the TLS port share the caps.
    others = [a for a in listener_associations(assoc)
              if a is not assoc and getattr(a, ADMITTED, None) is not None and a.is_alive()]
    per_ae, per_address = settings.BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE, settings.BROKER_DICOM_MAX_ASSOCIATIONS_PER_ADDRESS
    # Only admitted associations take a slot: a connection still sending its request (or never) does not.
    if len(others) >= settings.BROKER_DICOM_MAX_ASSOCIATIONS:
        return f"{len(others)} associations open (BROKER_DICOM_MAX_ASSOCIATIONS)"
    if per_ae and sum(1 for a in others if getattr(a, ADMITTED) == title) >= per_ae:
        return f"{per_ae} associations of AE {title} already open (BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE)"
    address = assoc.requestor.address
    if per_address and sum(1 for a in others if a.requestor.address == address) >= per_address:
        return f"{per_address} associations from {address} already open (BROKER_DICOM_MAX_ASSOCIATIONS_PER_ADDRESS)"
    setattr(assoc, ADMITTED, title)
    return ""


def count_refusal(ae_title: str, address: str, called: str = "", why: str = "") -> int:
    """One more refused association on the AE's row (no row is created for it: see remember's bound), and its
    audit event (a Security Alert), in one transaction."""
    with transaction.atomic():
        counted = RemoteAE.objects.filter(ae_title=ae_title).update(
            refused_count=F("refused_count") + 1, last_refused_at=timezone.now(), last_refused_address=address[:64])
        audit(audit_events.ASSOCIATION_REFUSED, outcome=AuditEvent.Outcome.MINOR_FAILURE, ae=ae_title,
              address=address, detail={"called_ae": called, "reason": why[:200]})
    return counted


def _reject(assoc, reason: tuple, why: str) -> None:
    title = calling_ae_title(assoc)
    log.warning("association from %s (%s) to %s rejected: %s", title, peer_of(assoc), called_ae_title(assoc), why)
    # bookkeeping, off the association's path
    db_work.submit(count_refusal, title, assoc.requestor.address, called_ae_title(assoc), why)
    reject(assoc, *reason)


def on_association_requested(event) -> None:
    """EVT_REQUESTED: check the called AE title, record the caller, refuse it when unknown, bound to another
    host, or over a concurrency cap."""
    assoc = event.assoc
    title = calling_ae_title(assoc)
    called = called_ae_title(assoc)
    if not called_title_accepted(called):
        _reject(assoc, REJECT_CALLED_AE_UNKNOWN, f"called AE title {called!r} is not {settings.BROKER_AE_TITLE!r} "
                "(BROKER_DICOM_CALLED_AE_ALIASES / BROKER_DICOM_ACCEPT_ANY_CALLED_AE)")
        return
    try:
        remote = remember_cached(title, assoc.requestor.address)
    except Exception:
        # The registry is bookkeeping: a database hiccup must not refuse a modality its worklist.
        log.exception("could not record calling AE %s", title)
        remote = None
    setattr(assoc, ATTRIBUTE, remote)
    if settings.BROKER_REQUIRE_KNOWN_AE and (remote is None or not is_known(remote)):
        _reject(assoc, REJECT_CALLING_AE_UNKNOWN, "unknown calling AE: BROKER_REQUIRE_KNOWN_AE is on")
        return
    if not host_matches(remote, assoc.requestor.address):
        _reject(assoc, REJECT_CALLING_AE_UNKNOWN, f"AE {title} is bound to {remote.host_binding}")
        return
    with _admitted_lock:
        over = _over_a_cap(assoc, title)
    if over:
        _reject(assoc, REJECT_LOCAL_LIMIT, over)


def remote_ae_of(assoc) -> RemoteAE | None:
    return getattr(assoc, ATTRIBUTE, None)


def allows(assoc, service: str) -> bool:
    """Service names: "echo", "mwl", "mpps", "store", "commitment"; an empty allowed_services list allows all."""
    remote = remote_ae_of(assoc)
    return remote is None or not remote.allowed_services or service in remote.allowed_services


def worklist_scope(assoc) -> Scope:
    """The steps this association's C-FINDs may see: the remote AE's own scope when staff set one; otherwise
    all for a known AE, and BROKER_MWL_UNKNOWN_AE_SCOPE for one not in the registry (or only auto-registered)."""
    remote = remote_ae_of(assoc)
    title = calling_ae_title(assoc)
    if remote is not None and (remote.worklist_stations or remote.worklist_modalities):
        return Scope.of(remote.worklist_stations, remote.worklist_modalities, source=f"remote AE {title}")
    if remote is not None and is_known(remote):
        return ALL
    policy = settings.BROKER_MWL_UNKNOWN_AE_SCOPE
    source = f"unknown AE, BROKER_MWL_UNKNOWN_AE_SCOPE={policy}"
    if policy == "none":
        return Scope.none(source=source)
    if policy == "own-station":
        return Scope.of([title], source=source)
    return ALL


# PS3.7 C.5.x "Refused: Not authorized": a general DIMSE failure status, valid for C-ECHO, C-FIND, C-STORE,
# N-CREATE, N-SET and N-ACTION alike.
REFUSED_NOT_AUTHORIZED = 0x0124


def refusal(assoc, service: str) -> Dataset | None:
    """The failure status a service handler returns when the calling AE may not use `service`; None = go on.

    The one check every service handler makes first, with its own service name."""
    if allows(assoc, service):
        return None
    title = calling_ae_title(assoc)
    log.warning("%s from AE %s (%s) refused: %s is not in its allowed services", service, title, peer_of(assoc),
                service)
    status = Dataset()
    status.Status = REFUSED_NOT_AUTHORIZED
    status.ErrorComment = error_comment(f"AE {title} is not allowed the {service} service")
    return status
