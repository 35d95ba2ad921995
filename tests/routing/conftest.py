"""Fixtures of the routing tests: a clean Redis db, real Celery workers, a private restartable Redis, Orthanc."""
import shutil
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from pydicom import dcmread
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove

from broker.routing.models import Destination, RoutingJob, StoredInstance, Study
from broker.routing.signals import study_completed
from tests.routing.support import CeleryWorker, Orthanc, RedisServer
from tests.services import missing


@pytest.fixture
def redis_db(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()  # our own db number: drop messages of earlier runs
    yield redis_url
    client.flushdb()


@pytest.fixture
def celery_worker_factory(database_url_for_subprocess, storage_dir, tmp_path):
    workers = []

    def start(redis_url: str, **env):
        worker = CeleryWorker(redis_url, database_url_for_subprocess, tmp_path, env).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def orthanc(tmp_path):
    """Debian's Orthanc as the destination PACS, started for the test and stopped after it."""
    if shutil.which("Orthanc") is None:
        missing("Orthanc is not installed (apt-get install orthanc)")
    pacs = Orthanc(tmp_path / "orthanc").start()
    yield pacs
    pacs.stop()


@pytest.fixture
def job(db):
    study = Study.objects.create(study_instance_uid="1.2.3", last_received_at=timezone.now())
    destination = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104)
    return RoutingJob.objects.create(study=study, destination=destination)


@pytest.fixture
def completed_signals():
    received = []

    def record(sender, study, **kwargs):
        received.append((study.study_instance_uid, study.completion_reason))

    study_completed.connect(record)
    yield received
    study_completed.disconnect(record)


@pytest.fixture(params=["pynetdicom", "dcmtk"])
def sender(request, settings, monkeypatch):
    """Every test here runs once per engine; dcmsend runs are counted to show which engine did the work."""
    from broker.routing import dcmsend

    settings.BROKER_ROUTING_SENDER = request.param
    runs = []
    real = dcmsend.send_files

    def counted(paths, **kwargs):
        runs.append(list(paths))
        return real(paths, **kwargs)

    monkeypatch.setattr(dcmsend, "send_files", counted)
    return SimpleNamespace(name=request.param, dcmsend_runs=runs)


@pytest.fixture
def routed_study(db, storage_dir):
    """A study completed 10 days ago with two instances on disk and two destinations."""
    study = Study.objects.create(study_instance_uid="1.2.3", last_received_at=timezone.now() - timedelta(days=10),
                                 state=Study.State.COMPLETE, completed_at=timezone.now() - timedelta(days=10))
    instances = []
    for n in (1, 2):
        relative = f"1.2.3/1.2.3.1/1.2.3.1.{n}.dcm"
        (storage_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (storage_dir / relative).write_bytes(b"DICM")
        instances.append(StoredInstance.objects.create(study=study, series_instance_uid="1.2.3.1", sop_instance_uid=f"1.2.3.1.{n}",
                                                       sop_class_uid="1.2.840.10008.5.1.4.1.1.2", transfer_syntax_uid="1.2.840.10008.1.2.1",
                                                       path=relative, size=4))
    jobs = [RoutingJob.objects.create(study=study, destination=Destination.objects.create(name=name, ae_title=name, host="127.0.0.1", port=104))
            for name in ("PACS", "AI")]
    return study, instances, jobs


@pytest.fixture
def archive(tmp_path):
    """An archive holding files, knowing move destinations by AE title; yields (server, known destinations, requests)."""
    known, requests, files = {}, [], []

    def handle_move(event):
        requests.append((event.move_destination.decode().strip() if isinstance(event.move_destination, bytes)
                         else event.move_destination.strip(), event.identifier.StudyInstanceUID))
        destination = known.get(requests[-1][0])
        if destination is None:
            yield None, None  # pynetdicom answers 0xA801 Move Destination Unknown
            return
        yield destination
        matching = [p for p in files if dcmread(p, stop_before_pixels=True).StudyInstanceUID == requests[-1][1]]
        yield len(matching)
        for path in matching:
            yield 0xFF00, dcmread(path)

    ae = AE(ae_title="ARCHIVE")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
    ae.requested_contexts = StoragePresentationContexts
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_MOVE, handle_move)])
    yield server, known, requests, files
    server.shutdown()


@pytest.fixture
def client_certificate(ca):
    return ca.issue("broker", client=True)
