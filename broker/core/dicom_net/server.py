"""The listener's association server: pynetdicom's threaded server with the broker's accept rules,
started in the background the way `AE.start_server(block=False)` does, with a choice of server class."""
import socket
import threading

from pynetdicom import AE
from pynetdicom.transport import AssociationServer, ThreadedAssociationServer

from broker.core.dicom_net import transport_limits
from broker.core.dicom_net.contexts import SupportedContexts


class BrokerAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with a listen backlog that absorbs a burst of connects (its default is 5)."""

    def server_activate(self) -> None:
        self.socket.listen(transport_limits.listen_backlog())

    def verify_request(self, request, client_address) -> bool:
        """Beyond BROKER_DICOM_MAX_CONNECTIONS open connections a new one is closed at once (two threads each)."""
        return transport_limits.connection_allowed(len(self.active_associations), client_address)


class SharedPortServer(BrokerAssociationServer):
    """A listener socket with SO_REUSEPORT: several listener processes bind the same port and the
    kernel spreads the incoming associations over them (rundicom --processes)."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def start_server(ae: AE, address: tuple[str, int], handlers: list, *, shared_port: bool = False) -> AssociationServer:
    """Accept associations on `address` in a background thread; `.shutdown()` on the result stops it."""
    server = ae.make_server(address, evt_handlers=handlers,
                            server_class=SharedPortServer if shared_port else BrokerAssociationServer)
    threading.Thread(target=server.serve_forever, name="dicom-accept", daemon=True).start()
    ae._servers.append(server)  # as start_server does: AssociationServer.shutdown() removes it again
    server.contexts = SupportedContexts(server.contexts)  # copied per association: keep that cheap
    return server
