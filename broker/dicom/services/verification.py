"""C-ECHO: answered with success, unless the calling AE's allowed services leave "echo" out."""
from pynetdicom import evt
from pynetdicom.sop_class import Verification

from broker.dicom import registry

SUPPORTED_CONTEXTS = [Verification]


def handle_echo(event):
    return 0x0000 if registry.allows(event.assoc, "echo") else 0x0124  # 0x0124: Refused, not authorized


def handlers():
    return [(evt.EVT_C_ECHO, handle_echo)]
