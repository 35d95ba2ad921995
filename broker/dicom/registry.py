"""The remote AE registry at association time: record who calls, refuse unknown AEs when configured.

The record is attached to the association so every service handler of that association reads the
calling AE's settings (character set, allowed services) without another query.
"""
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from broker.dicom import db_work
from broker.dicom.models import RemoteAE

log = logging.getLogger(__name__)

# last_seen is refreshed at most this often: a busy scanner must not turn every association into a write.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
ATTRIBUTE = "broker_remote_ae"

# A-ASSOCIATE-RJ: rejected-permanent, service-user, calling AE title not recognized (PS3.8 9.3.4).
REJECT_CALLING_AE_UNKNOWN = (0x01, 0x01, 0x03)


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
    """The registry row for `ae_title`, created (auto-registered) on first contact; last_seen kept fresh."""
    now = timezone.now()
    try:
        remote, created = RemoteAE.objects.get_or_create(
            ae_title=ae_title, defaults={"host": host, "auto_registered": True, "last_seen": now,
                                         "description": "recorded on first association"})
    except IntegrityError:  # two first associations at once: the other one created the row
        remote, created = RemoteAE.objects.get(ae_title=ae_title), False
    if created:
        log.info("new calling AE %s from %s recorded", ae_title, host)
    elif remote.last_seen is None or now - remote.last_seen > LAST_SEEN_RESOLUTION:
        RemoteAE.objects.filter(pk=remote.pk).update(last_seen=now)
        remote.last_seen = now
    return remote


def is_known(remote: RemoteAE) -> bool:
    """Known = configured by staff (an auto-registered row becomes known when staff clear the flag)."""
    return not remote.auto_registered


def on_association_requested(event) -> None:
    """EVT_REQUESTED: record the caller; reject it when unknown AEs are refused."""
    assoc = event.assoc
    title = calling_ae_title(assoc)
    try:
        remote = remember_cached(title, assoc.requestor.address)
    except Exception:
        # The registry is bookkeeping: a database hiccup must not refuse a modality its worklist.
        log.exception("could not record calling AE %s", title)
        remote = None
    setattr(assoc, ATTRIBUTE, remote)
    if settings.BROKER_REQUIRE_KNOWN_AE and (remote is None or not is_known(remote)):
        log.warning("association from unknown AE %s (%s) rejected: BROKER_REQUIRE_KNOWN_AE is on",
                    title, peer_of(assoc))
        assoc.acse.send_reject(*REJECT_CALLING_AE_UNKNOWN)
        # As pynetdicom's own rejections do: let the DUL send the A-ASSOCIATE-RJ before the socket closes.
        assoc.kill()


def remote_ae_of(assoc) -> RemoteAE | None:
    return getattr(assoc, ATTRIBUTE, None)


def allows(assoc, service: str) -> bool:
    """Service names: "echo", "mwl", "mpps", "store"; an empty allowed_services list allows all."""
    remote = remote_ae_of(assoc)
    return remote is None or not remote.allowed_services or service in remote.allowed_services
