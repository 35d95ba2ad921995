"""The broker's own identity (PS3.7 D.3.3.2) in every association: the Implementation Class UID under BROKER_UID_ROOT
and the Implementation Version Name BROKER_<version>, as the listener's peers and the SCUs' peers read them."""
import re
import subprocess
import threading

import pytest
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, PYNETDICOM_IMPLEMENTATION_UID, evt
from pynetdicom.sop_class import CTImageStorage, ModalityPerformedProcedureStep, Verification

from broker.core import identity
from broker.dashboard import health
from broker.outbound import forwarding, services
from broker.outbound.models import MppsDestination
from broker.routing import delivery
from broker.routing.associations import application_entity, associate
from broker.routing.models import Destination, RoutingJob, RoutingRule
from mpps.models import PerformedProcedureStep
from tests.routing.support import make_study, receive_and_complete

EXPECTED_VERSION_NAME = f"BROKER_{identity.VERSION}"


class IdentityRecordingPeer:
    """A pynetdicom SCP that answers success and records the requestor's identity of each association."""

    def __init__(self, *contexts):
        self.identities = []
        self.lock = threading.Lock()
        ae = AE(ae_title="PEER")
        for context in contexts:
            ae.add_supported_context(context)
        self.server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[
            (evt.EVT_ESTABLISHED, self._record), (evt.EVT_C_ECHO, lambda event: 0x0000),
            (evt.EVT_C_STORE, lambda event: 0x0000), (evt.EVT_N_CREATE, lambda event: (0x0000, event.attribute_list))])
        self.port = self.server.server_address[1]

    def _record(self, event):
        requestor = event.assoc.requestor
        with self.lock:
            self.identities.append((str(requestor.implementation_class_uid), requestor.implementation_version_name))

    def shutdown(self):
        self.server.shutdown()


@pytest.fixture
def peer():
    made = []

    def start(*contexts) -> IdentityRecordingPeer:
        made.append(IdentityRecordingPeer(*contexts))
        return made[-1]

    yield start
    for recording in made:
        recording.shutdown()


def broker_identity() -> tuple[str, str]:
    return identity.implementation_class_uid(), EXPECTED_VERSION_NAME


def test_it_makes_its_implementation_class_uid_under_the_uid_root(settings):
    settings.BROKER_UID_ROOT = "1.2.826.0.1.3680043.10.1455."
    assert identity.implementation_class_uid() == f"1.2.826.0.1.3680043.10.1455.1.{identity.VERSION}"
    assert identity.implementation_class_uid("1.2.3") == f"1.2.3.1.{identity.VERSION}"
    assert len(EXPECTED_VERSION_NAME) <= 16


@pytest.mark.parametrize("root, why", [("1.2.03.", "not a valid UID"), ("1." + "2" * 62, "not a valid UID")])
def test_it_names_the_setting_when_the_uid_root_cannot_make_a_uid(root, why):
    with pytest.raises(identity.InvalidImplementationUID, match=f"BROKER_UID_ROOT .* {why}"):
        identity.implementation_class_uid(root)


def test_it_introduces_itself_to_a_pynetdicom_scu_as_acceptor(port):
    ae = AE(ae_title="CT01")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    assert assoc.is_established
    try:
        seen = (str(assoc.acceptor.implementation_class_uid), assoc.acceptor.implementation_version_name)
    finally:
        assoc.release()
    assert seen == broker_identity()
    assert seen[0] != PYNETDICOM_IMPLEMENTATION_UID


@pytest.mark.dcmtk
def test_it_introduces_itself_to_echoscu(port, dcmtk):
    result = subprocess.run(["echoscu", "-d", "-aet", "CT01", "-aec", "BROKER", "127.0.0.1", str(port)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    # The A-ASSOCIATE-AC as echoscu dumps it ("Their" = the broker's values).
    accept = (result.stdout + result.stderr).split("BEGIN A-ASSOCIATE-AC", 1)[-1]
    their_uid = re.search(r"Their Implementation Class UID:[ \t]+(\S+)", accept)
    their_name = re.search(r"Their Implementation Version Name:[ \t]+(\S+)", accept)
    assert (their_uid and their_uid.group(1), their_name and their_name.group(1)) == broker_identity(), accept


@pytest.mark.dcmtk
def test_it_introduces_itself_to_a_routing_destination(broker_listener, tmp_path, peer, settings):
    settings.BROKER_ROUTING_SENDER = "pynetdicom"  # dcmsend names itself as DCMTK (docs/routing.md)
    destination_scp = peer(CTImageStorage)
    destination = Destination.objects.create(name="PACS", ae_title="PEER", host="127.0.0.1", port=destination_scp.port)
    RoutingRule.objects.create(name="all").destinations.add(destination)
    study = receive_and_complete(broker_listener, make_study(tmp_path / "study", count=1, mix=False), extra=())

    assert delivery.run_job(RoutingJob.objects.get(study=study).id) == RoutingJob.State.DONE

    assert destination_scp.identities == [broker_identity()]


def test_it_introduces_itself_to_an_mpps_destination(db, peer):
    mpps_scp = peer(ModalityPerformedProcedureStep)
    MppsDestination.objects.create(name="PACS", ae_title="PEER", host="127.0.0.1", port=mpps_scp.port)
    step = PerformedProcedureStep.objects.create(sop_instance_uid=generate_uid(), calling_ae="CT01")
    attributes = Dataset()
    attributes.PerformedProcedureStepStatus = "IN PROGRESS"
    forward, = services.queue_forwards(step, "N-CREATE", attributes.to_json_dict())

    assert forwarding.deliver(forward.pk).sent

    assert mpps_scp.identities == [broker_identity()]


def test_it_introduces_itself_in_the_health_check_echo(db, peer, settings):
    listener_stand_in = peer(Verification)
    settings.BROKER_DICOM_PORT = listener_stand_in.port

    health.check_dicom_listener()

    assert listener_stand_in.identities == [broker_identity()]


def test_it_keeps_the_routing_identity_with_another_uid_root(settings, peer):
    settings.BROKER_UID_ROOT = "1.2.3.4"
    scp = peer(CTImageStorage)
    ae = application_entity()
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = associate(ae, Destination(name="PACS", ae_title="PEER", host="127.0.0.1", port=scp.port))
    assoc.release()
    assert scp.identities == [(f"1.2.3.4.1.{identity.VERSION}", EXPECTED_VERSION_NAME)]
