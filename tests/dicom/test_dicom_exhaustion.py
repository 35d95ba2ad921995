"""Exhaustion of the DICOM listener by raw sockets: partial headers, unknown PDUs, idle associations, bursts.

Test settings make the deadlines short (1-2 s); each hostile socket must be closed by the broker within
deadline + margin while a good C-ECHO is served.
"""
import socket
import subprocess
import time

import pytest
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, ImplementationClassUIDNotification, MaximumLengthNotification
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import Verification

from broker.dicom import listener as dicom_listener
from tests.mwl.support import echo
from tests.waiting import wait_until

DEADLINE = 1.5
MARGIN = 3.0
HOSTILE = 40


@pytest.fixture
def server(transactional_db, settings):
    settings.BROKER_DICOM_ACSE_TIMEOUT = DEADLINE
    settings.BROKER_DICOM_PDU_TIMEOUT = DEADLINE
    settings.BROKER_DICOM_NETWORK_TIMEOUT = DEADLINE
    settings.BROKER_DICOM_MAX_ASSOCIATIONS = 32
    # Every socket here comes from 127.0.0.1: the per-address and per-AE caps are tested in test_dicom_access.
    settings.BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE = settings.BROKER_DICOM_MAX_ASSOCIATIONS_PER_ADDRESS = 0
    server = dicom_listener.start("127.0.0.1", 0)
    yield server
    server.shutdown()


def association_request(calling_ae: str = "IDLE") -> bytes:
    primitive = A_ASSOCIATE()
    primitive.calling_ae_title, primitive.called_ae_title = calling_ae, "BROKER"
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    context = build_context(Verification)
    context.context_id = 1
    primitive.presentation_context_definition_list = [context]
    max_length, implementation = MaximumLengthNotification(), ImplementationClassUIDNotification()
    max_length.maximum_length_received = 16384
    implementation.implementation_class_uid = "1.2.826.0.1.3680043.9.3811.1"
    primitive.user_information = [max_length, implementation]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return pdu.encode()


def hostile_sockets(port: int, payload: bytes, count: int = HOSTILE) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if payload:
            sock.sendall(payload)
        sockets.append(sock)
    return sockets


def closed_by_broker(sock: socket.socket, within: float) -> bool:
    """True when the broker closes the connection (EOF, after whatever it sent) within `within` seconds."""
    deadline = time.monotonic() + within
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def good_echo_served(port: int, within: float) -> float:
    started = time.monotonic()
    wait_until(lambda: echo(port, calling_ae="GOOD") == 0x0000, timeout=within, interval=0.1,
               message="a good C-ECHO to be answered")
    return time.monotonic() - started


def assert_all_closed(sockets, started: float) -> None:
    for sock in sockets:
        remaining = max(0.0, started + DEADLINE + MARGIN - time.monotonic())
        assert closed_by_broker(sock, remaining), "a hostile socket outlived deadline + margin"
        sock.close()


def test_it_closes_connections_that_send_three_bytes_of_a_header(server):
    port = server.server_address[1]
    started = time.monotonic()
    sockets = hostile_sockets(port, b"\x01\x00\x00")
    try:
        assert good_echo_served(port, DEADLINE + MARGIN) < DEADLINE + MARGIN
        assert_all_closed(sockets, started)
    finally:
        for sock in sockets:
            sock.close()


def test_it_aborts_a_pdu_of_unknown_type_at_once(server):
    port = server.server_address[1]
    started = time.monotonic()
    sockets = hostile_sockets(port, b"\x99\x00\x00\x00\x00\x04abcd")
    try:
        for sock in sockets:
            sock.settimeout(DEADLINE)
            assert sock.recv(1) == b"\x07"  # A-ABORT PDU
        assert time.monotonic() - started < DEADLINE  # at once, not at the deadline
        assert good_echo_served(port, DEADLINE + MARGIN) < DEADLINE + MARGIN
        assert_all_closed(sockets, started)
    finally:
        for sock in sockets:
            sock.close()


def test_it_closes_a_pdu_body_that_stalls(server):
    port = server.server_address[1]
    request = association_request()
    started = time.monotonic()
    sockets = hostile_sockets(port, request[:20])
    try:
        assert good_echo_served(port, DEADLINE + MARGIN) < DEADLINE + MARGIN
        assert_all_closed(sockets, started)
    finally:
        for sock in sockets:
            sock.close()


def test_it_ends_idle_established_associations(server, settings):
    # 32 requests on a loaded machine; the idle timeout is under test, not the request deadline.
    settings.BROKER_DICOM_ACSE_TIMEOUT = server.ae.acse_timeout = 10
    port = server.server_address[1]
    sockets = hostile_sockets(port, association_request(), count=32)
    try:
        for sock in sockets:
            assert sock.recv(1) == b"\x02"  # A-ASSOCIATE-AC: established, then silent
        started = time.monotonic()
        assert_all_closed(sockets, started)
        assert good_echo_served(port, MARGIN) < MARGIN
    finally:
        for sock in sockets:
            sock.close()


def test_it_absorbs_a_burst_of_100_connects(server):
    port = server.server_address[1]
    sockets = []
    try:
        started = time.monotonic()
        for _ in range(100):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            sockets.append(sock)
        for sock in sockets:
            sock.setblocking(True)
            sock.settimeout(5)
            sock.getpeername()
        assert good_echo_served(port, DEADLINE + MARGIN) < DEADLINE + MARGIN
        # No SYN was dropped (a drop costs the client a 1 s retransmission): every connect completed at once.
        assert time.monotonic() - started < DEADLINE + MARGIN
        assert_all_closed(sockets, started)
    finally:
        for sock in sockets:
            sock.close()


def test_it_listens_with_a_backlog_for_a_burst(server):
    # For a listening socket the kernel reports its listen() backlog as Send-Q.
    port = server.server_address[1]
    listing = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    backlog = int(listing.split()[2])
    assert backlog >= 100


def test_it_serves_a_good_echo_at_once_while_connections_send_half_headers(server):
    # Connections that have not sent a whole A-ASSOCIATE-RQ take no association slot.
    port = server.server_address[1]
    sockets = hostile_sockets(port, b"\x01\x00\x00")
    try:
        assert echo(port, calling_ae="GOOD") == 0x0000
    finally:
        for sock in sockets:
            sock.close()


def test_it_rejects_an_association_beyond_the_maximum_quickly(server, settings):
    server.ae.network_timeout = 60  # the 32 stay established (the running AE's value applies)
    settings.BROKER_DICOM_ACSE_TIMEOUT = server.ae.acse_timeout = 10  # not under test; 32 requests under load
    port = server.server_address[1]
    sockets = hostile_sockets(port, association_request(), count=32)
    try:
        for sock in sockets:
            assert sock.recv(1) == b"\x02"
        started = time.monotonic()
        refused = echo(port, calling_ae="GOOD")
        rsp = refused.acceptor.primitive
        assert (rsp.result, rsp.result_source, rsp.diagnostic) == (0x02, 0x03, 0x02)  # transient: local limit
        assert time.monotonic() - started < 1.0
    finally:
        for sock in sockets:
            sock.close()


def test_it_closes_connections_beyond_the_connection_cap_at_once(server, settings):
    settings.BROKER_DICOM_MAX_CONNECTIONS = 10
    port = server.server_address[1]
    sockets = hostile_sockets(port, b"\x01\x00\x00", count=10)
    try:
        wait_until(lambda: len(server.active_associations) >= 10)
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert closed_by_broker(extra, 1.0)
        extra.close()
        assert good_echo_served(port, DEADLINE + MARGIN) < DEADLINE + MARGIN  # once the half headers are cut
    finally:
        for sock in sockets:
            sock.close()


def test_it_aborts_a_pdu_of_length_zero(server):
    port = server.server_address[1]
    sockets = hostile_sockets(port, b"\x01\x00\x00\x00\x00\x00", count=5)
    try:
        started = time.monotonic()
        for sock in sockets:
            sock.settimeout(DEADLINE)
            assert sock.recv(1) == b"\x07"  # pynetdicom cannot decode it: A-ABORT
        assert echo(port, calling_ae="GOOD") == 0x0000
        assert_all_closed(sockets, started)
    finally:
        for sock in sockets:
            sock.close()
