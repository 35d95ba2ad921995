"""The DICOM services the listener offers; each module owns one and its handlers.

A service module exposes:
  SUPPORTED_CONTEXTS: list of SOP Class UIDs (or (uid, transfer_syntaxes)) the AE accepts;
  handlers() -> list of (pynetdicom event, handler) bound for that service.
"""
from broker.dicom.services import commitment, mpps, mwl, storage, verification

SERVICES = (verification, mwl, mpps, storage, commitment)
