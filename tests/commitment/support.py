"""Actors of the storage commitment tests: a modality that asks for commitment (pynetdicom SCU, as DCMTK has no
commitment client) and the modality's own listener that takes reports on a new association."""
import threading
from dataclasses import dataclass, field

from pydicom import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import StorageCommitmentPushModel

from tests.services import free_port
from tests.waiting import wait_until

WELL_KNOWN_INSTANCE = "1.2.840.10008.1.20.1.1"


@dataclass
class Report:
    """An N-EVENT-REPORT the modality received."""

    event_type: int
    info: Dataset
    calling_ae: str  # the AE that sent it (the broker)
    on_new_association: bool
    scp_role_proposed: bool = False

    @property
    def committed(self) -> set[tuple[str, str]]:
        return {(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID) for i in self.info.get("ReferencedSOPSequence", [])}

    @property
    def failed(self) -> dict[str, int]:
        """SOP Instance UID → Failure Reason."""
        return {i.ReferencedSOPInstanceUID: int(i.FailureReason) for i in self.info.get("FailedSOPSequence", [])}


def action_information(references, transaction_uid: str | None = None) -> Dataset:
    info = Dataset()
    info.TransactionUID = transaction_uid or generate_uid()
    items = []
    for sop_class, sop_instance in references:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        items.append(item)
    info.ReferencedSOPSequence = Sequence(items)
    return info


@dataclass
class Modality:
    """The requesting side: one association, one N-ACTION; it keeps the association open for the report or not."""

    port: int
    ae_title: str = "MODALITY1"
    reports: list[Report] = field(default_factory=list)

    def _record(self, event):
        self.reports.append(Report(event.event_type, event.event_information, event.assoc.acceptor.ae_title,
                                   on_new_association=False))
        return 0x0000, None

    def request(self, info: Dataset | None, *, action_type: int = 1, instance_uid: str = WELL_KNOWN_INSTANCE,
                wait_for_report: float = 0.0) -> Dataset:
        """Send the N-ACTION; with wait_for_report, keep the association until a report came (or that long)."""
        ae = AE(ae_title=self.ae_title)
        ae.add_requested_context(StorageCommitmentPushModel)
        assoc = ae.associate("127.0.0.1", self.port, ae_title="BROKER",
                             evt_handlers=[(evt.EVT_N_EVENT_REPORT, self._record)])
        assert assoc.is_established
        before = len(self.reports)
        try:
            status, _ = assoc.send_n_action(info, action_type, StorageCommitmentPushModel, instance_uid)
            if wait_for_report and status.Status == 0x0000:
                wait_until(lambda: len(self.reports) > before, wait_for_report,
                           message="N-EVENT-REPORT on the same association")
        finally:
            assoc.release()
        return status


class ModalityListener:
    """The modality's own SCP on 127.0.0.1: it accepts the broker's association for reports (the SCP role the
    broker proposes for the Storage Commitment Push Model) and records each N-EVENT-REPORT."""

    def __init__(self, ae_title: str = "MODALITY1", answer: int = 0x0000, ssl_context=None):
        self.ae_title = ae_title
        self.ssl_context = ssl_context  # a server context: this listener speaks TLS only
        self.port = free_port()
        self.answer = answer
        self.reports: list[Report] = []
        self.server = None
        self._lock = threading.Lock()

    def _record(self, event):
        proposal = event.assoc.requestor.role_selection.get(StorageCommitmentPushModel)
        with self._lock:
            self.reports.append(Report(event.event_type, event.event_information, event.assoc.requestor.ae_title,
                                       on_new_association=True,
                                       scp_role_proposed=bool(proposal and proposal.scp_role and not proposal.scu_role)))
        return self.answer, None

    def start(self):
        ae = AE(ae_title=self.ae_title)
        ae.add_supported_context(StorageCommitmentPushModel, scu_role=False, scp_role=True)
        self.server = ae.start_server(("127.0.0.1", self.port), block=False, ssl_context=self.ssl_context,
                                      evt_handlers=[(evt.EVT_N_EVENT_REPORT, self._record)])
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server = None
