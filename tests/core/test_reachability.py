"""What a failed connection means, in words (broker.core.reachability.socket_error_words), as a table."""
import errno
import socket
import ssl

import pytest

from broker.core.reachability import socket_error_words

PEER = "the RIS at 10.1.2.3:2575"


@pytest.mark.parametrize("error, words", [
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
     "the RIS at 10.1.2.3:2575 refused the connection (nothing listens on that port)"),
    (TimeoutError("timed out"), "the RIS at 10.1.2.3:2575 did not answer within 5 s"),
    (socket.gaierror(-2, "Name or service not known"),
     "the RIS at 10.1.2.3:2575: the host name is not known (DNS: Name or service not known)"),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
     "the RIS at 10.1.2.3:2575 closed the connection without answering"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "the RIS at 10.1.2.3:2575 cannot be reached (no route to the host)"),
    (OSError(errno.EACCES, "Permission denied"), "the RIS at 10.1.2.3:2575: permission denied"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
     "the RIS at 10.1.2.3:2575: TLS failed ([SSL: WRONG_VERSION_NUMBER] wrong version number)"),
])
def test_it_says_what_went_wrong(error, words):
    assert socket_error_words(error, PEER, 5.0) == words
