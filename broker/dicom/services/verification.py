"""C-ECHO: answered with success, unless the calling AE's allowed services leave "echo" out (0x0124)."""
from pynetdicom import evt
from pynetdicom.sop_class import Verification

from broker.dicom import registry

SUPPORTED_CONTEXTS = [Verification]


def handle_echo(event):
    return registry.refusal(event.assoc, "echo") or 0x0000


def handlers():
    return [(evt.EVT_C_ECHO, handle_echo)]
