"""runhl7 as a real child process (start, SIGTERM, SIGKILL mid-stream) and sendhl7 from the command line."""
import io
import signal
import socket
import threading

import pytest
from django.core.management import call_command

from broker.core.hl7v2.mllp import MLLPClient
from broker.hl7.models import HL7Message
from tests.hl7.support import SAMPLES, ListenerProcess, msa, orm, pid, wait_until
from worklist.models import ImagingOrder, Patient


def test_it_sends_a_file_of_messages_and_prints_each_msa(listener):
    out = io.StringIO()
    call_command("sendhl7", str(SAMPLES / "feed_klinikum_day.hl7"), port=listener.port, stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split("|")[1] for line in lines[:6]] == ["AA"] * 6
    assert lines[6] == "6 sent, 6 accepted, 0 not accepted"
    assert Patient.objects.get(patient_id="4711").orders.get().status == "CANCELED"


def test_it_exits_non_zero_when_a_message_is_not_accepted(listener, tmp_path):
    path = tmp_path / "cancel_unknown.hl7"
    path.write_bytes(orm(control="CA", status="CA", placer="UNKNOWN").replace(b"\r", b"\n"))
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("sendhl7", str(path), port=listener.port, stdout=out)
    assert exited.value.code == 1
    assert out.getvalue().startswith("MSA|AE|") and "ERR|ORC^1^2^204&Unknown key identifier" in out.getvalue()


def test_it_stops_runhl7_cleanly_on_sigterm(database_url_for_subprocess):
    child = ListenerProcess(database_url_for_subprocess)
    try:
        with MLLPClient("127.0.0.1", child.port) as client:
            assert msa(client.send(orm(placer="T1", accession="T1")))[0] == "AA"
            idle = socket.create_connection(("127.0.0.1", child.port), timeout=10)
            assert child.stop(signal.SIGTERM) == 0
            assert idle.recv(10) == b""  # an idle connection is closed, not left hanging
            idle.close()
        assert "HL7 listener stopped" in child.output()
        assert ImagingOrder.objects.filter(accession_number="T1").exists()
    finally:
        if child.proc.poll() is None:
            child.proc.kill()


@pytest.mark.slow
def test_it_loses_no_acknowledged_message_when_killed_mid_stream(database_url_for_subprocess):
    total, kill_after = 2000, 700
    messages = [orm(placer=f"K{i:05d}", accession=f"K{i:05d}", control_id=f"KILL-{i:05d}",
                    patient=pid(f"KP{i % 300:04d}")) for i in range(total)]
    accepted: list[int] = []
    child = ListenerProcess(database_url_for_subprocess)
    killed = threading.Event()

    def killer():
        wait_until(lambda: len(accepted) >= kill_after, timeout=120, interval=0.001)
        child.proc.kill()  # SIGKILL: no chance to finish anything
        killed.set()

    threading.Thread(target=killer, daemon=True).start()
    i, restarts = 0, 0
    client = MLLPClient("127.0.0.1", child.port, timeout=30).connect()
    while i < total:
        try:
            ack = client.send(messages[i])
        except OSError:
            # The listener died with message i in flight: its fate is unknown to us, so resend it (same MSH-10).
            assert killed.wait(30) and restarts == 0
            client.close()
            child.proc.wait(30)
            child = ListenerProcess(database_url_for_subprocess)
            client = MLLPClient("127.0.0.1", child.port, timeout=30).connect()
            restarts += 1
            continue
        assert msa(ack) == ("AA", f"KILL-{i:05d}")
        accepted.append(i)
        i += 1
    client.close()
    assert child.stop() == 0
    assert restarts == 1 and len(accepted) == total
    stored = set(ImagingOrder.objects.values_list("accession_number", flat=True))
    assert stored == {f"K{i:05d}" for i in accepted}
    assert HL7Message.objects.filter(outcome="AA", accepted_key__isnull=False).count() == total
    assert Patient.objects.count() == 300
