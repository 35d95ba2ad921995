"""Routing a private SOP class (GE's 1.2.840.113619.4.3) as it came: byte for byte to a storescp that takes any
class, and a clear job error from a destination that does not know it; once per sender engine."""
import pytest

from broker.routing import delivery, services
from broker.routing.models import Destination, RoutingJob, RoutingRule, Study
from tests.routing.support import GE_PRIVATE, StoreSCP, body_bytes, dcmsend, make_private_instance, sop_instance_uid

pytestmark = [pytest.mark.dcmtk, pytest.mark.usefixtures("sender")]  # every test once per engine


def route_everything_to(scp: StoreSCP) -> Destination:
    destination = Destination.objects.create(name="PACS", ae_title=scp.ae_title, host="127.0.0.1", port=scp.port)
    RoutingRule.objects.create(name="all").destinations.add(destination)
    return destination


def receive_and_complete(port: int, path) -> Study:
    """The scanner sends its private instance (dcmsend: storescu skips unknown classes), staff mark the study complete."""
    result = dcmsend(port, [path])
    assert result.returncode == 0, result.stderr
    return services.mark_study_complete(Study.objects.get().id)


def test_it_routes_a_private_sop_class_byte_for_byte(broker_listener, tmp_path):
    scp = StoreSCP(tmp_path / "pacs", options=("-pm", "+xi")).start()  # promiscuous: any SOP class
    route_everything_to(scp)
    path = make_private_instance(tmp_path / "ge.dcm")
    study = receive_and_complete(broker_listener, path)
    job = RoutingJob.objects.get(study=study)

    assert delivery.run_job(job.id) == RoutingJob.State.DONE

    (copy,) = scp.received()[sop_instance_uid(path)]
    assert body_bytes(copy) == body_bytes(path)
    job.refresh_from_db()
    assert (job.sent, job.total, job.last_error) == (1, 1, "")
    scp.stop()


def test_it_says_in_words_that_the_destination_refused_the_private_sop_class(broker_listener, tmp_path):
    scp = StoreSCP(tmp_path / "pacs").start()  # the standard's storage classes only
    route_everything_to(scp)
    path = make_private_instance(tmp_path / "ge.dcm")
    study = receive_and_complete(broker_listener, path)
    job = RoutingJob.objects.get(study=study)

    assert delivery.run_job(job.id) == RoutingJob.State.GAVE_UP

    error = RoutingJob.objects.get(pk=job.id).last_error
    assert f"accepted no context for SOP class {GE_PRIVATE} (private, not in the DICOM standard)" in error, error
    assert scp.received() == {}
    scp.stop()
