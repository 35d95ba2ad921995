"""Modality-side actors for MPPS tests: datasets a modality sends, an SCU, a recording downstream SCP,
a waiting helper, and an MLLP server playing the RIS."""
import socket
import threading
from contextlib import contextmanager

from pydicom import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from broker.core.hl7v2.mllp import FrameDecoder, frame
from tests.waiting import wait_until  # noqa: F401  (re-exported for this area's tests)

MPPS = ModalityPerformedProcedureStep


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def ssa_item_for(step) -> Dataset:
    """The Scheduled Step Attributes item a modality copies from the worklist entry of `step`."""
    procedure = step.requested_procedure
    item = Dataset()
    item.StudyInstanceUID = procedure.study_instance_uid
    item.ReferencedStudySequence = Sequence()
    item.AccessionNumber = procedure.order.accession_number
    item.RequestedProcedureID = procedure.requested_procedure_id
    item.RequestedProcedureDescription = procedure.description
    item.ScheduledProcedureStepID = step.sps_id
    item.ScheduledProcedureStepDescription = step.description
    item.ScheduledProtocolCodeSequence = Sequence()
    return item


def unscheduled_ssa_item(study_uid: str | None = None) -> Dataset:
    item = Dataset()
    item.StudyInstanceUID = study_uid or generate_uid()
    item.ReferencedStudySequence = Sequence()
    for keyword in ("AccessionNumber", "RequestedProcedureID", "RequestedProcedureDescription",
                    "ScheduledProcedureStepID", "ScheduledProcedureStepDescription"):
        setattr(item, keyword, "")
    item.ScheduledProtocolCodeSequence = Sequence()
    return item


def n_create_dataset(*steps, patient_id: str = "", patient_name: str = "", ssa_items=None, modality: str = "CT",
                     station: str = "CT01") -> Dataset:
    """An N-CREATE attribute list as a modality sends it when the technologist starts the exam (IN PROGRESS)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    items = ssa_items if ssa_items is not None else [ssa_item_for(step) for step in steps]
    ds.ScheduledStepAttributesSequence = Sequence(items)
    patient = steps[0].requested_procedure.order.patient if steps else None
    ds.PatientName = patient_name or (patient.name if patient else "UNKNOWN^PATIENT")
    ds.PatientID = patient_id or (patient.patient_id if patient else "EMERG0001")
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    ds.ReferencedPatientSequence = Sequence()
    ds.PerformedProcedureStepID = "PPS" + generate_uid()[-8:]
    ds.PerformedStationAETitle = station
    ds.PerformedStationName = "CT ROOM 1"
    ds.PerformedLocation = "RAD1"
    ds.PerformedProcedureStepStartDate = "20261126"
    ds.PerformedProcedureStepStartTime = "083000"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "CT HEAD"
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = Sequence()
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = Sequence()
    ds.Modality = modality
    ds.StudyID = "1"
    ds.PerformedProtocolCodeSequence = Sequence()
    ds.PerformedSeriesSequence = Sequence()
    return ds


def series_item(image_count: int = 2, series_uid: str | None = None) -> Dataset:
    item = Dataset()
    item.PerformingPhysicianName = ""
    item.ProtocolName = "HEAD ROUTINE"
    item.OperatorsName = "TECH^ANNA"
    item.SeriesInstanceUID = series_uid or generate_uid()
    item.SeriesDescription = "AXIAL 5MM"
    item.RetrieveAETitle = ""
    images = []
    for _ in range(image_count):
        ref = Dataset()
        ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ref.ReferencedSOPInstanceUID = generate_uid()
        images.append(ref)
    item.ReferencedImageSequence = Sequence(images)
    item.ReferencedNonImageCompositeSOPInstanceSequence = Sequence()
    return item


def n_set_dataset(status: str | None = None, series=None, reason: tuple[str, str, str] | None = None) -> Dataset:
    """An N-SET modification list: series so far, and for a final status the end date/time."""
    ds = Dataset()
    if status:
        ds.PerformedProcedureStepStatus = status
    if status in ("COMPLETED", "DISCONTINUED"):
        ds.PerformedProcedureStepEndDate = "20261126"
        ds.PerformedProcedureStepEndTime = "084500"
    if series is not None:
        ds.PerformedSeriesSequence = Sequence(series)
    if reason:
        ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = Sequence([_code(*reason)])
    return ds


class Modality:
    """An MPPS SCU with one association kept open (as a modality does during an exam)."""

    def __init__(self, port: int, ae_title: str = "CT01", called: str = "BROKER"):
        ae = AE(ae_title=ae_title)
        ae.add_requested_context(MPPS)
        ae.dimse_timeout = ae.network_timeout = ae.acse_timeout = 30
        self.assoc = ae.associate("127.0.0.1", port, ae_title=called)
        assert self.assoc.is_established, "the broker refused the MPPS association"

    def create(self, dataset: Dataset, uid: str | None = "") -> tuple[Dataset, str]:
        uid = generate_uid() if uid == "" else uid
        status, _ = self.assoc.send_n_create(dataset, MPPS, uid)
        return status, uid

    def set(self, uid: str, dataset: Dataset) -> Dataset:
        status, _ = self.assoc.send_n_set(dataset, MPPS, uid)
        return status

    def close(self):
        if self.assoc.is_established:
            self.assoc.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RecordingMppsScp:
    """A downstream MPPS SCP (a PACS): records every N-CREATE / N-SET it accepts, in arrival order."""

    def __init__(self, ae_title: str = "PACS", ssl_context=None):
        self.received = []  # (operation, sop_instance_uid, Dataset)
        self.lock = threading.Lock()
        self.answer = 0x0000
        ae = AE(ae_title=ae_title)
        ae.add_supported_context(MPPS)
        self.server = ae.start_server(("127.0.0.1", 0), block=False, ssl_context=ssl_context, evt_handlers=[
            (evt.EVT_N_CREATE, self._on_create), (evt.EVT_N_SET, self._on_set)])
        self.port = self.server.server_address[1]

    def _record(self, operation, uid, dataset):
        with self.lock:
            if self.answer == 0x0000:
                self.received.append((operation, str(uid), dataset))
            return self.answer, None

    def _on_create(self, event):
        return self._record("N-CREATE", event.request.AffectedSOPInstanceUID, event.attribute_list)

    def _on_set(self, event):
        return self._record("N-SET", event.request.RequestedSOPInstanceUID, event.modification_list)

    def operations(self, uid: str) -> list[str]:
        with self.lock:
            return [op for op, received_uid, _ in self.received if received_uid == uid]

    def shutdown(self):
        self.server.shutdown()


class RisServer:
    """An MLLP server playing the RIS: answers each message with an ACK whose MSA-1 is `self.answer`
    ('AA', 'AE', 'AR', or None for no answer at all); `hold` makes it wait before answering. With an ssl_context
    (a server context) it speaks MLLP over TLS; `tls_refusals` keeps why each refused handshake failed."""

    def __init__(self, port: int = 0, ssl_context=None):
        self.ssl_context = ssl_context
        self.tls_refusals = []
        self.received = []  # decoded messages in arrival order
        self.answer = "AA"
        self.hold = threading.Event()
        self.hold.set()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        decoder = FrameDecoder(1024 * 1024)
        if self.ssl_context is not None:
            conn.settimeout(10)
            try:
                conn = self.ssl_context.wrap_socket(conn, server_side=True)
            except OSError as exc:
                with self.lock:
                    self.tls_refusals.append(getattr(exc, "reason", None) or str(exc))
                conn.close()
                return
        conn.settimeout(0.2)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                for message in decoder.feed(data):
                    text = message.decode("utf-8")
                    with self.lock:
                        self.received.append(text)
                    self.hold.wait(60)
                    if self.answer is None or self._stop.is_set():
                        continue
                    control_id = segment(text, "MSH")[10]
                    ack = f"MSH|^~\\&|RIS|HOSP|BROKER|RADIOLOGY|20261126083000||ACK^O01|ACK{control_id}|P|2.3.1\r" \
                          f"MSA|{self.answer}|{control_id}"
                    try:
                        conn.sendall(frame(ack.encode()))
                    except OSError:
                        return

    def messages(self) -> list[str]:
        with self.lock:
            return list(self.received)

    def shutdown(self):
        self._stop.set()
        self.hold.set()
        self.sock.close()
        self.thread.join(5)


def segment(message: str, name: str, occurrence: int = 0) -> list[str]:
    """Fields of a segment, numbered as HL7 numbers them (MSH-1 is the field separator)."""
    found = [s for s in message.replace("\n", "\r").split("\r") if s.startswith(name + "|")]
    fields = found[occurrence].split("|")
    return ["MSH", "|"] + fields[1:] if name == "MSH" else fields


@contextmanager
def running(thing):
    try:
        yield thing
    finally:
        thing.shutdown()
