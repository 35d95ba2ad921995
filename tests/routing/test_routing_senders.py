"""The sender engines: which one a job gets, and reading dcmsend's per-instance report (tables of cases)."""
import pytest

from broker.routing import dcmsend, senders
from broker.routing.dcmsend import NO_CONTEXT, LiveLog, parse_report
from broker.routing.models import Destination, RoutingJob, RoutingRule

REPORT = """Detailed Report on the Transfer of Instances
============================================

Communication Peer : 127.0.0.1:11199
AE Titles used     : BROKER -> PACS
Current Date/Time  : 2026-11-26 06:43:21


Number        : 1
Filename      : /data/a.dcm
SOP Instance  : 1.2.3.1
SOP Class     : 1.2.840.10008.5.1.4.1.1.2 = CTImageStorage
Original Xfer : 1.2.840.10008.1.2.5 = RLE Lossless
Dataset Size  : 2432 bytes
Association   : 1
Pres. Context : 1
Network Xfer  : 1.2.840.10008.1.2 = Little Endian Implicit
DIMSE Status  : 0x0000 (Success)

Number        : 2
Filename      : /data/b c.dcm
SOP Instance  : 1.2.3.2
SOP Class     : 1.2.840.10008.5.1.4.1.1.4 = MRImageStorage
Original Xfer : 1.2.840.10008.1.2.1 = Little Endian Explicit
Dataset Size  : 2432 bytes
Association   : 1
Pres. Context : 3
Network Xfer  : 1.2.840.10008.1.2.1 = Little Endian Explicit
DIMSE Status  : 0xa700 (Refused: OutOfResources)

Number        : 3
Filename      : /data/c.dcm
SOP Instance  : 1.2.3.3
SOP Class     : 1.2.840.10008.5.1.4.1.1.2 = CTImageStorage
Original Xfer : 1.2.840.10008.1.2.4.50 = JPEG Baseline
Dataset Size  : 0 bytes
Association   : 0
Pres. Context : 5
Network Xfer  : 
DIMSE Status  : <no acceptable presentation context>

Number        : 4
Filename      : /data/d.dcm
SOP Instance  : 1.2.3.4
SOP Class     : 1.2.840.10008.5.1.4.1.1.2 = CTImageStorage
Original Xfer : 1.2.840.10008.1.2.1 = Little Endian Explicit
Dataset Size  : 2432 bytes
Association   : 1
Pres. Context : 1
Network Xfer  : 1.2.840.10008.1.2.1 = Little Endian Explicit
DIMSE Status  : 0xb007 (Warning: DataSetDoesNotMatchSOPClass)


Status Summary
--------------
Number of SOP instances  : 4
"""


@pytest.mark.parametrize("index, filename, uid, network, status, no_context", [
    (0, "/data/a.dcm", "1.2.3.1", "1.2.840.10008.1.2", 0x0000, False),
    (1, "/data/b c.dcm", "1.2.3.2", "1.2.840.10008.1.2.1", 0xA700, False),
    (2, "/data/c.dcm", "1.2.3.3", "", None, True),
    (3, "/data/d.dcm", "1.2.3.4", "1.2.840.10008.1.2.1", 0xB007, False),
])
def test_it_reads_each_instance_of_a_dcmsend_report(index, filename, uid, network, status, no_context):
    results = parse_report(REPORT)
    assert len(results) == 4
    result = results[index]
    assert (result.filename, result.sop_instance_uid, result.network_syntax, result.status, result.no_context) == (
        filename, uid, network, status, no_context)


def test_it_reads_no_instances_from_an_empty_report():
    assert parse_report("") == []
    assert NO_CONTEXT == "<no acceptable presentation context>"


def job(*, use_tls=False, changes=None) -> RoutingJob:
    """An unsaved job: the choice reads only the destination and the rule."""
    destination = Destination(pk=1, name="PACS", ae_title="PACS", host="127.0.0.1", port=104, use_tls=use_tls)
    return RoutingJob(pk=1, destination=destination, rule=RoutingRule(pk=1, name="all", attribute_changes=changes or {}))


@pytest.mark.parametrize("setting, installed, use_tls, changes, engine", [
    ("auto", True, False, None, "dcmtk"),
    ("auto", False, False, None, "pynetdicom"),
    ("dcmtk", True, False, None, "dcmtk"),
    ("dcmtk", False, False, None, "pynetdicom"),  # logged; the job is not failed for it
    ("pynetdicom", True, False, None, "pynetdicom"),
    ("auto", True, True, None, "pynetdicom"),  # dcmsend has no TLS
    ("dcmtk", True, True, None, "pynetdicom"),
    ("dcmtk", True, False, {"InstitutionName": "CITY"}, "pynetdicom"),  # changes are made in memory by pynetdicom
])
def test_it_chooses_the_sender_engine(settings, monkeypatch, setting, installed, use_tls, changes, engine):
    settings.BROKER_ROUTING_SENDER = setting
    monkeypatch.setattr(dcmsend.shutil, "which", lambda name: "/usr/bin/dcmsend" if installed else None)
    assert senders.engine_for(job(use_tls=use_tls, changes=changes)) == engine


@pytest.mark.parametrize("sizes, count, max_bytes, expected", [
    ([10] * 5, 2, 1000, [[10, 10], [10, 10], [10]]),
    ([10] * 4, 50, 25, [[10, 10], [10, 10]]),
    ([10, 100, 10], 50, 50, [[10], [100], [10]]),  # larger than the cap: alone
    ([], 50, 50, []),
])
def test_it_batches_dcmsend_runs_by_count_and_bytes(sizes, count, max_bytes, expected):
    from broker.routing.models import StoredInstance
    from broker.routing.sending_dcmtk import batches

    instances = [StoredInstance(size=size) for size in sizes]
    assert [[i.size for i in batch] for batch in batches(instances, count, max_bytes)] == expected


LOG = """I: sending SOP instances ...
D: sending SOP instance from file: /data/a.dcm
I: Converting transfer syntax: RLE Lossless -> Little Endian Implicit
I: Sending C-STORE Request
D: Message Type                  : C-STORE RQ
D: DIMSE Status                  : 0x0000: Success
D: Message Type                  : C-STORE RSP
D: Affected SOP Instance UID     : 1.2.3.1
D: DIMSE Status                  : 0x0000: Success
D: sending SOP instance from file: /data/b c.dcm
D: Message Type                  : C-STORE RSP
D: DIMSE Status                  : 0xA700: Refused: OutOfResources
D: sending SOP instance from file: /data/d.dcm
D: Message Type                  : C-STORE RSP
D: DIMSE Status                  : 0xB007: Warning
I: Releasing Association
"""


def test_it_follows_c_store_responses_in_the_dcmsend_log():
    live = LiveLog()
    responses = [r for r in map(live.feed, LOG.splitlines()) if r]
    assert responses == [("/data/a.dcm", 0x0000, "1.2.840.10008.1.2"), ("/data/b c.dcm", 0xA700, None),
                         ("/data/d.dcm", 0xB007, None)]
