"""A real IAN SCP (pynetdicom, N-CREATE handler) on 127.0.0.1: records each notification it accepts."""
import threading

from pydicom import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import InstanceAvailabilityNotification


class IanScp:
    """Answers each N-CREATE with `answer` (and `comment` as Error Comment when it is a failure)."""

    def __init__(self, ae_title: str = "RISIAN", port: int = 0, ssl_context=None):
        self.received: list[tuple[str, Dataset]] = []  # (Affected SOP Instance UID, attribute list)
        self.calls = 0
        self.lock = threading.Lock()
        self.answer = 0x0000
        self.comment = ""
        ae = AE(ae_title=ae_title)
        ae.add_supported_context(InstanceAvailabilityNotification)
        self.server = ae.start_server(("127.0.0.1", port), block=False, ssl_context=ssl_context,
                                      evt_handlers=[(evt.EVT_N_CREATE, self._on_create)])
        self.port = self.server.server_address[1]

    def _on_create(self, event):
        with self.lock:
            self.calls += 1
            if self.answer != 0x0000:
                status = Dataset()
                status.Status = self.answer
                status.ErrorComment = self.comment
                return status, None
            self.received.append((str(event.request.AffectedSOPInstanceUID), event.attribute_list))
            return 0x0000, event.attribute_list

    def shutdown(self):
        self.server.shutdown()
