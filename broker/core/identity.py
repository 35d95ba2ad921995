"""The broker's version and its DICOM identity: the Implementation Class UID and Implementation Version Name.

PS3.7 D.3.3.2: every A-ASSOCIATE-RQ and -AC carries the Implementation Class UID of the program that sent it
and may carry an Implementation Version Name (at most 16 characters). Peers log both, and some vendors
switch behaviour on them, so the broker names itself, not pynetdicom, in every association it takes part in:
the listener as acceptor and every SCU it opens (routing, C-MOVE requests, MPPS forwards, the health C-ECHO).
`application_entity()` is the one way the broker makes a pynetdicom AE.

The class UID is `<BROKER_UID_ROOT>.1.<VERSION>`: arc 1 under the site's root holds implementation versions
(the generated Study Instance UIDs use the root directly with a long random suffix, so they cannot collide).
"""
from django.conf import settings
from pydicom.uid import RE_VALID_UID
from pynetdicom import AE

VERSION = "1.0.0"  # the broker's version: digits and dots only (it is part of a UID)
IMPLEMENTATION_VERSION_NAME = f"BROKER_{VERSION}"
IMPLEMENTATION_ARC = "1"
MAX_VERSION_NAME_LENGTH = 16  # SH, PS3.7 D.3.3.2
MAX_UID_LENGTH = 64  # PS3.5 9.1
assert len(IMPLEMENTATION_VERSION_NAME) <= MAX_VERSION_NAME_LENGTH


class InvalidImplementationUID(ValueError):
    """BROKER_UID_ROOT does not make a valid Implementation Class UID (the message says why and what to do)."""


def implementation_class_uid(root: str | None = None) -> str:
    """The Implementation Class UID under `root` (BROKER_UID_ROOT by default, with or without its trailing dot)."""
    root = (settings.BROKER_UID_ROOT if root is None else root).strip().rstrip(".")
    uid = f"{root}.{IMPLEMENTATION_ARC}.{VERSION}"
    if len(uid) > MAX_UID_LENGTH or not RE_VALID_UID.match(uid):
        raise InvalidImplementationUID(
            f"BROKER_UID_ROOT {root!r} gives the Implementation Class UID {uid!r}, which is not a valid UID "
            f"(digits and dots, no leading zeros, at most {MAX_UID_LENGTH} characters): use your organisation's UID root")
    return uid


def application_entity(ae_title: str) -> AE:
    """A pynetdicom AE titled `ae_title` that introduces itself as the broker in its associations."""
    ae = AE(ae_title=ae_title)
    ae.implementation_class_uid = implementation_class_uid()
    ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    return ae
