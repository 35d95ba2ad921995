"""The DICOM services the listener offers; each module owns one and its handlers.

A service module exposes:
  SUPPORTED_CONTEXTS: list of SOP Class UIDs (or (uid, transfer_syntaxes)) the AE accepts;
  handlers() -> list of (pynetdicom event, handler) bound for that service.

`scp_contexts()` is the one reading of those lists: the listener adds exactly these contexts to its AE, and the
Conformance Statement (broker/conformance) lists exactly these.
"""
from dataclasses import dataclass

from pynetdicom import ALL_TRANSFER_SYNTAXES

from broker.dicom.services import commitment, mpps, mwl, storage, verification

SERVICES = (verification, mwl, mpps, storage, commitment)
# A SOP class listed without transfer syntaxes is accepted in every one pynetdicom knows.
DEFAULT_SCP_SYNTAXES = tuple(str(uid) for uid in ALL_TRANSFER_SYNTAXES)


@dataclass(frozen=True)
class ScpContext:
    service: object  # the service module
    sop_class: str
    transfer_syntaxes: tuple[str, ...]


def scp_contexts() -> list[ScpContext]:
    """Every SOP class the listener accepts as SCP with its transfer syntaxes, in SERVICES order."""
    contexts = []
    for service in SERVICES:
        for context in service.SUPPORTED_CONTEXTS:
            uid, syntaxes = context if isinstance(context, tuple) else (context, DEFAULT_SCP_SYNTAXES)
            contexts.append(ScpContext(service, str(uid), tuple(str(ts) for ts in syntaxes)))
    return contexts
