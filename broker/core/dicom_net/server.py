"""The listener's association servers: pynetdicom's threaded server with the broker's accept rules,
started in the background the way `AE.start_server(block=False)` does, with a choice of server class.

A TLS server (an `ssl_context`) does not shake hands in the accept loop, as pynetdicom's `get_request`
would (one client that connects and sends nothing would stop every other connection): the handshake runs
on the connection's own thread under a deadline (`transport_limits.tls_handshake`), and a connection still
shaking hands counts against BROKER_DICOM_MAX_CONNECTIONS like an open association.
"""
import socket
import ssl
import threading

from pynetdicom import AE
from pynetdicom.transport import AssociationServer, ThreadedAssociationServer

from broker.core.dicom_net import transport_limits
from broker.core.dicom_net.contexts import SupportedContexts


class BrokerAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with a listen backlog that absorbs a burst of connects (its default is 5)."""

    def __init__(self, *args, **kwargs):
        self.handshakes_in_progress = 0
        self._handshakes_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def server_activate(self) -> None:
        self.socket.listen(transport_limits.listen_backlog())

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client_socket, address = self.socket.accept()
        if self.ssl_context is not None:
            # No I/O here: the handshake happens in process_request_thread, under a deadline.
            client_socket = self.ssl_context.wrap_socket(client_socket, server_side=True, do_handshake_on_connect=False)
        return client_socket, address

    def open_connections(self) -> int:
        """Associations of every server of this AE (the plain and the TLS port share the caps) and handshakes."""
        servers = [server for server in self.ae._servers if server is not self] + [self]
        return len(self.ae.active_associations) + sum(getattr(server, "handshakes_in_progress", 0) for server in servers)

    def verify_request(self, request, client_address) -> bool:
        """Beyond BROKER_DICOM_MAX_CONNECTIONS open connections a new one is closed at once (two threads each)."""
        return transport_limits.connection_allowed(self.open_connections(), client_address)

    def process_request_thread(self, request, client_address) -> None:
        if isinstance(request, ssl.SSLSocket) and not self._shake_hands(request, client_address):
            self.shutdown_request(request)
            return
        super().process_request_thread(request, client_address)

    def _shake_hands(self, request: ssl.SSLSocket, client_address) -> bool:
        with self._handshakes_lock:
            self.handshakes_in_progress += 1
        try:
            return transport_limits.tls_handshake(request, client_address)
        finally:
            with self._handshakes_lock:
                self.handshakes_in_progress -= 1


class SharedPortServer(BrokerAssociationServer):
    """A listener socket with SO_REUSEPORT: several listener processes bind the same port and the
    kernel spreads the incoming associations over them (rundicom --processes)."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def start_server(ae: AE, address: tuple[str, int], handlers: list, *, shared_port: bool = False,
                 ssl_context: ssl.SSLContext | None = None) -> AssociationServer:
    """Accept associations on `address` in a background thread; `.shutdown()` on the result stops it.
    With `ssl_context` (a server context from broker.core.tls) every connection is TLS."""
    server = ae.make_server(address, evt_handlers=handlers, ssl_context=ssl_context,
                            server_class=SharedPortServer if shared_port else BrokerAssociationServer)
    name = "dicom-tls-accept" if ssl_context is not None else "dicom-accept"
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    ae._servers.append(server)  # as start_server does: AssociationServer.shutdown() removes it again
    server.contexts = SupportedContexts(server.contexts)  # copied per association: keep that cheap
    return server
