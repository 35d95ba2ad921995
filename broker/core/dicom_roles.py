"""The SCU roles the broker plays as data: what each association it opens proposes, and why it opens it.

Each module that opens associations declares its role once (`ScuRole`) and builds its requested contexts and
role selection from it (`request_on`), so the Conformance Statement (broker/conformance) reads the same values
the code proposes. A role whose SOP classes depend on what is sent (routing sends whatever was stored) names
them in words (`sop_classes_note`) and lists only the fixed part.
"""
from dataclasses import dataclass

from pynetdicom import AE, DEFAULT_TRANSFER_SYNTAXES, build_role

# What pynetdicom proposes for a context named without transfer syntaxes: the uncompressed ones.
UNCOMPRESSED_SYNTAXES = tuple(str(uid) for uid in DEFAULT_TRANSFER_SYNTAXES)
DEFAULT_MAX_PDU = 16382  # pynetdicom's default maximum PDU length received; 0 = unlimited


@dataclass(frozen=True)
class ScuRole:
    name: str  # "Storage SCU (routing)"
    purpose: str  # when and to whom the broker opens the association, one sentence
    sop_classes: tuple[str, ...]  # the SOP Class UIDs proposed (empty when `sop_classes_note` says which)
    transfer_syntaxes: tuple[str, ...]  # proposed for each of them (first = preferred)
    sop_classes_note: str = ""  # which classes when they depend on the instance sent
    transfer_syntaxes_note: str = ""  # the part of the proposal that depends on the instance sent
    scp_role: bool = False  # SCP/SCU Role Selection (PS3.7 D.3.3.4): the broker asks for the SCP role only
    timeout_setting: str = ""  # the setting that bounds connect, ACSE, DIMSE and network waits
    peers: str = ""  # where the peers are configured
    maximum_pdu: int = DEFAULT_MAX_PDU  # the maximum PDU length the broker receives on these associations
    tls: str = ""  # when the association uses TLS (PS3.15 Annex B); empty: never, plain TCP

    def request_on(self, ae: AE) -> list:
        """Set this role's maximum PDU and requested contexts on `ae`; returns the role selection items for
        `associate()`."""
        ae.maximum_pdu_size = self.maximum_pdu
        for sop_class in self.sop_classes:
            ae.add_requested_context(sop_class, list(self.transfer_syntaxes))
        return self.role_selection()

    def role_selection(self) -> list:
        if not self.scp_role:
            return []
        return [build_role(sop_class, scu_role=False, scp_role=True) for sop_class in self.sop_classes]
