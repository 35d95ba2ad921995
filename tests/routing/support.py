"""Actors for the storage and routing tests (plain code; the fixtures built on them are in the conftest files): DICOM
files made in code, DCMTK storescu/storescp peers, a real Celery worker, a private Redis."""
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
from django.conf import settings as django_settings
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)
from pynetdicom.sop_class import (
    CTImageStorage,
    MRImageStorage,
    SecondaryCaptureImageStorage,
)

from tests.services import free_port, port_open
from tests.waiting import wait_until  # noqa: F401  (re-exported for this area's tests)

ROOT = Path(__file__).resolve().parents[2]


# --- DICOM files -----------------------------------------------------------------------------------

def make_image(path: Path, *, study_uid: str, series_uid: str, sop_class=CTImageStorage, syntax=ExplicitVRLittleEndian,
               modality: str = "CT", number: int = 1, rows: int = 32, columns: int = 32, bits: int = 16, **attributes) -> Path:
    """A small image of sop_class in syntax (RLE compressed from real pixels), written as a DICOM file."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
    ds.PatientID = attributes.pop("PatientID", "PID0001")
    ds.PatientName = attributes.pop("PatientName", "DOE^JANE")
    ds.StudyDescription = attributes.pop("StudyDescription", "CT HEAD")
    ds.InstanceNumber = number
    ds.SeriesNumber = 1
    ds.StationName = attributes.pop("StationName", "CTROOM1")
    ds.BodyPartExamined = attributes.pop("BodyPartExamined", "HEAD")
    ds.AccessionNumber = attributes.pop("AccessionNumber", "ACC0001")
    ds.InstitutionName = "GENERAL HOSPITAL"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    if bits == 8:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    # Distinct pixels per instance, so a mix-up between instances shows in the comparison.
    pixels = ((np.arange(rows * columns, dtype=np.uint16).reshape(rows, columns) * (number + 3)) % (256 if bits == 8 else 4096))
    pixels = pixels.astype(np.uint8 if bits == 8 else np.uint16)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if syntax == RLELossless:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = pixels.tobytes()
        ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = syntax
        ds.PixelData = pixels.tobytes()
        ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    ds.save_as(path, enforce_file_format=True)
    return path


GE_PRIVATE = "1.2.840.113619.4.3"  # a private storage SOP class (GE), unknown to the standard and to DCMTK


def make_private_instance(path: Path, *, study_uid: str = "1.2.3.40", syntax=ImplicitVRLittleEndian) -> Path:
    """An instance of GE's private class with a private block, as such a scanner sends it."""
    make_image(path, study_uid=study_uid, series_uid=f"{study_uid}.1", sop_class=GE_PRIVATE, syntax=syntax)
    ds = dcmread(path)
    block = ds.private_block(0x0009, "GEMS_IDEN_01", create=True)
    block.add_new(0x10, "LO", "RAW DATA 7")
    block.add_new(0x11, "OB", b"\x01\x02\x03\x04")
    ds.save_as(path, enforce_file_format=True)
    return path


def make_jpeg_baseline(path: Path, **fields) -> Path:
    """An 8-bit image compressed to JPEG baseline by DCMTK's dcmcjpeg (pydicom here has no JPEG encoder)."""
    source = make_image(path.with_suffix(".raw.dcm"), bits=8, **fields)
    subprocess.run(["dcmcjpeg", "+eb", str(source), str(path)], check=True, capture_output=True)
    return path


def make_study(directory: Path, *, count: int = 4, study_uid: str | None = None, mix: bool = True, **attributes) -> list[Path]:
    """A study of several instances: CT explicit, MR implicit, SC explicit, a CT in RLE when mix is on."""
    directory.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    kinds = [(CTImageStorage, ExplicitVRLittleEndian, "CT"), (MRImageStorage, ImplicitVRLittleEndian, "MR"),
             (SecondaryCaptureImageStorage, ExplicitVRLittleEndian, "OT"), (CTImageStorage, RLELossless, "CT")]
    if not mix:
        kinds = [(CTImageStorage, ExplicitVRLittleEndian, "CT")]
    series = {kind: generate_uid() for kind in kinds}
    paths = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        sop_class, syntax, modality = kind
        paths.append(make_image(directory / f"img{n:04d}.dcm", study_uid=study_uid, series_uid=series[kind],
                                sop_class=sop_class, syntax=syntax, modality=modality, number=n + 1, **attributes))
    return paths


def pixel_bytes(path: Path) -> bytes:
    return dcmread(path)["PixelData"].value


def sop_instance_uid(path: Path) -> str:
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def body_bytes(path: Path) -> bytes:
    """The encoded data set after the file meta: what a byte-for-byte store must keep."""
    data = path.read_bytes()
    ds = dcmread(path, stop_before_pixels=True)
    meta_end = 132 + 12 + ds.file_meta.FileMetaInformationGroupLength
    return data[meta_end:]


# --- TLS certificates ------------------------------------------------------------------------------

# --- processes -------------------------------------------------------------------------------------

def storescu(port: int, paths, *, calling: str = "MODALITY1", called: str = "BROKER", extra=()) -> subprocess.CompletedProcess:
    # -xs etc. would propose other syntaxes; by default storescu proposes each file's own syntax too.
    argv = ["storescu", "-aet", calling, "-aec", called, *extra, "127.0.0.1", str(port), *map(str, paths)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def dcmsend(port: int, paths, *, calling: str = "MODALITY1", called: str = "BROKER", extra=()) -> subprocess.CompletedProcess:
    """DCMTK's dcmsend as the modality: unlike storescu (3.6.7 skips a file whose SOP class it does not know as
    "unknown storage SOP class"), it sends private classes with --no-uid-checks."""
    argv = ["dcmsend", "-aet", calling, "-aec", called, "--no-uid-checks", *extra, "127.0.0.1", str(port), *map(str, paths)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def assert_delivered_identically(scp, paths) -> dict:
    """Every sent file arrived once at `scp` with the same pixel data; returns what it received."""
    received = scp.received()
    assert set(received) == {sop_instance_uid(p) for p in paths}
    for path in paths:
        (copy,) = received[sop_instance_uid(path)]
        assert pixel_bytes(copy) == pixel_bytes(path)
    return received


def receive_and_complete(port: int, paths, extra=("-xr",)):
    """The modality sends the study to the broker's listener (storescu), then staff mark it complete: jobs exist."""
    from broker.routing import services
    from broker.routing.models import Study

    result = storescu(port, paths, extra=extra)
    assert result.returncode == 0, result.stderr
    study = Study.objects.get()
    return services.mark_study_complete(study.id)


class StoreSCP:
    """DCMTK storescp on loopback writing into a directory; start()/stop() can be repeated on one port."""

    running: set = set()  # stopped by the broker_listener fixture even when a test fails midway

    @classmethod
    def stop_all(cls):
        for scp in list(cls.running):
            scp.stop()

    def __init__(self, directory: Path, *, ae_title: str = "PACS", options=()):
        self.directory = directory
        self.ae_title = ae_title
        self.options = list(options)
        self.port = free_port()
        self.process = None
        directory.mkdir(parents=True, exist_ok=True)

    def start(self):
        argv = ["storescp", "-aet", self.ae_title, "-od", str(self.directory), "+uf", "-dhl", *self.options, str(self.port)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: port_open("127.0.0.1", self.port) or self.process.poll() is not None, 10, message="storescp")
        assert self.process.poll() is None, self.process.stderr.read().decode()
        StoreSCP.running.add(self)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None
        StoreSCP.running.discard(self)

    def received(self) -> dict[str, list[Path]]:
        """SOP Instance UID → files received for it (more than one means it was sent again)."""
        by_uid: dict[str, list[Path]] = {}
        for path in self.directory.iterdir():
            if path.is_file() and not path.name.startswith("."):
                try:
                    by_uid.setdefault(sop_instance_uid(path), []).append(path)
                except Exception:
                    pass  # still being written
        return by_uid


class Orthanc:
    """Debian's Orthanc as an independent PACS on loopback: its own DICOM and HTTP ports, storage in a directory.

    `UnknownSopClassAccepted` lets it store classes it does not know (a private one), as a PACS configured for a
    vendor's private objects does; the REST API on loopback (no remote access) gives back what it stored."""

    def __init__(self, directory: Path, *, ae_title: str = "ORTHANC", accept_unknown: bool = True):
        self.directory, self.ae_title, self.accept_unknown = directory, ae_title, accept_unknown
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "orthanc.json"
        self.process = None

    def _configure(self) -> None:
        self.port = free_port()
        self.http_port = free_port()
        while self.http_port == self.port:
            self.http_port = free_port()
        self.config.write_text(json.dumps({
            "Name": "test-pacs", "DicomAet": self.ae_title, "DicomPort": self.port, "HttpPort": self.http_port,
            "StorageDirectory": str(self.directory / "storage"), "IndexDirectory": str(self.directory / "index"),
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomCheckCalledAet": True,
            "UnknownSopClassAccepted": self.accept_unknown, "DicomAlwaysAllowStore": True, "Plugins": [],
            "HttpServerEnabled": True, "DicomServerEnabled": True, "ConcurrentJobs": 1,
        }))

    def start(self):
        errors = ""
        for _ in range(3):  # a free port can be taken by another process before Orthanc binds it: new ports
            self._configure()
            self.process = subprocess.Popen(["Orthanc", str(self.config)], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, cwd=self.directory)
            wait_until(lambda: (port_open("127.0.0.1", self.port) and port_open("127.0.0.1", self.http_port))
                       or self.process.poll() is not None, 60, message="Orthanc")
            if self.process.poll() is None:
                return self
            errors = self.process.stderr.read().decode()[-2000:]
        raise AssertionError(f"Orthanc did not start: {errors}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as reply:
            return reply.read()

    def stored(self) -> dict[str, bytes]:
        """SOP Instance UID → the file Orthanc stored for it, as its REST API gives it back."""
        found = {}
        for instance in json.loads(self._get("/instances")):
            tags = json.loads(self._get(f"/instances/{instance}/simplified-tags"))
            found[tags["SOPInstanceUID"]] = self._get(f"/instances/{instance}/file")
        return found


def point_celery_at(url: str) -> str:
    """Make this process's Celery app send to url (tests only: clears the cached connection pools)."""
    from broker.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = url
    app.conf.broker_write_url = None
    app.conf.task_always_eager = False
    app._pool = None
    app.amqp._producer_pool = None
    return previous


class CeleryWorker:
    """A real `celery -A broker worker` (with beat for the sweep) against the test database and a Redis URL."""

    def __init__(self, redis_url: str, database_url: str, workdir: Path, env: dict | None = None):
        self.redis_url, self.database_url, self.workdir = redis_url, database_url, workdir
        self.env = env or {}
        self.process = None
        self.log = workdir / "worker.log"

    def start(self):
        env = {**os.environ, "CELERY_BROKER_URL": self.redis_url, "DATABASE_URL": self.database_url,
               "BROKER_STORAGE_DIR": str(django_settings.BROKER_STORAGE_DIR), "BROKER_ROUTING_BACKOFF_SECONDS": "1",
               "BROKER_ROUTING_BACKOFF_MAX_SECONDS": "2", "BROKER_ROUTING_SWEEP_SECONDS": "1",
               "BROKER_ROUTING_STALE_SECONDS": "3", "BROKER_ROUTING_TIMEOUT": "10", **self.env}
        if "DATABASE_URL" in env and env["DATABASE_URL"].startswith("sqlite"):
            env["DATABASE_CONN_MAX_AGE"] = "0"
        argv = [sys.executable, "-m", "celery", "-A", "broker", "worker", "--beat", "--pool", "solo", "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--schedule", str(self.workdir / "beat-schedule")]
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_until(lambda: "ready." in self.log.read_text() or self.process.poll() is not None, 60, message="celery worker ready")
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        return self

    def kill(self):
        """SIGKILL the whole worker (main process and any child) as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


class RedisServer:
    """A private redis-server on a free port without persistence, restartable on the same port."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", str(self.workdir)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open("127.0.0.1", self.port), 10, message="redis-server")
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
