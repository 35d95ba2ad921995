"""C-ECHO: pynetdicom answers it; we only note who called."""
from pynetdicom.sop_class import Verification

SUPPORTED_CONTEXTS = [Verification]


def handlers():
    return []
