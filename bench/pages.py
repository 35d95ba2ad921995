"""Render time of the dashboard's main pages with 100,000 orders in the database.

    .venv/bin/python bench/pages.py            # PostgreSQL scratch DB broker_bench_pages (SQLite if no server)
    .venv/bin/python bench/pages.py --sqlite   # SQLite file under bench/.work/
    .venv/bin/python bench/pages.py --quick    # 10,000 orders, fewer requests (not written to docs)

Each page is requested in-process through Django's test client by a logged-in viewer; the figure is the median of
several requests after one warm-up, reported next to the floor measured in the same run: /healthz (database check
only), a page that renders a template and runs one query.
"""
import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
PG_URL = os.environ.get("BENCH_PAGES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/broker_bench_pages")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 orders and 3 requests per page; docs are not rewritten")
    parser.add_argument("--sqlite", action="store_true", help="use SQLite instead of PostgreSQL")
    parser.add_argument("--orders", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--rebuild", action="store_true", help="drop and re-create the scratch data")
    return parser.parse_args()


def choose_database(args) -> str:
    if not args.sqlite:
        import psycopg

        server = PG_URL.rsplit("/", 1)[0] + "/postgres"
        name = PG_URL.rsplit("/", 1)[1]
        try:
            with psycopg.connect(server, autocommit=True, connect_timeout=3) as conn:
                if args.rebuild:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                    conn.execute(f'CREATE DATABASE "{name}"')
            return PG_URL
        except psycopg.OperationalError as exc:
            print(f"PostgreSQL not reachable ({exc}); using SQLite", file=sys.stderr)
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "pages.sqlite3"
    if args.rebuild and path.exists():
        path.unlink()
    return f"sqlite:///{path}"


def populate(n_orders: int) -> None:
    """Bulk-create a department's history: n orders over ~100 days, each with its message, step and (mostly) images."""
    from django.utils import timezone

    from broker.dicom.models import WorklistQuery
    from broker.hl7.models import HL7Message
    from broker.outbound.models import RisEndpoint, RisNotification
    from broker.routing.models import Destination, RoutingJob, Study
    from mpps.models import PerformedProcedureStep
    from worklist.models import ImagingOrder, Patient, RequestedProcedure, ScheduledProcedureStep
    from worklist.names import search_key

    if ImagingOrder.objects.count() >= n_orders:
        print(f"reusing {ImagingOrder.objects.count()} orders already in the scratch database")
        return
    started = time.monotonic()
    batch = 5000
    now = timezone.now()
    stations = [("CT01", "CT"), ("CT02", "CT"), ("MR01", "MR"), ("MR02", "MR"), ("US01", "US"), ("CR01", "CR"), ("CR02", "CR")]
    statuses = ["COMPLETED"] * 8 + ["SCHEDULED", "DISCONTINUED"]
    n_patients = max(1, n_orders // 2)
    surnames = ["MÜLLER", "SCHMIDT", "SCHNEIDER", "FISCHER", "WEBER", "MEYER", "WAGNER", "BECKER", "SCHULZ", "HOFFMANN"]
    patients = [Patient(patient_id=f"BP{i:07d}", issuer_of_patient_id="HOSP", name=f"{surnames[i % 10]}^PAT{i}",
                        name_search=search_key(f"{surnames[i % 10]}^PAT{i}"), sex="MF"[i % 2]) for i in range(n_patients)]
    Patient.objects.bulk_create(patients, batch_size=batch)
    patient_ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
    destination = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=11113)
    endpoint = RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=2576)
    for chunk_start in range(0, n_orders, batch):
        chunk = range(chunk_start, min(n_orders, chunk_start + batch))
        # Spread over the last 100 days, about 1% of them today.
        when = {i: now - timedelta(days=(i * 100) // n_orders) + timedelta(minutes=i % 600) for i in chunk}
        orders = ImagingOrder.objects.bulk_create([
            ImagingOrder(patient_id=patient_ids[i % n_patients], placer_order_number=f"BPL{i:08d}", filler_order_number=f"BFL{i:08d}",
                         accession_number=f"BA{i:08d}", status="COMPLETED", sending_application="RIS", hl7_version="2.5.1")
            for i in chunk])
        order_ids = [order.pk for order in orders]
        ImagingOrder.objects.filter(pk__in=order_ids)  # ids filled by bulk_create on both engines
        procedures = RequestedProcedure.objects.bulk_create([
            RequestedProcedure(order_id=order_ids[k], requested_procedure_id=f"RP{i}", description="CT HEAD",
                               code_value="CTHEAD", study_instance_uid=f"1.2.826.0.1.3680043.10.1455.9.{i}")
            for k, i in enumerate(chunk)])
        ScheduledProcedureStep.objects.bulk_create([
            ScheduledProcedureStep(requested_procedure_id=procedures[k].pk, sps_id=f"S{i}", modality=stations[i % 7][1],
                                   station_ae_title=stations[i % 7][0], start=when[i], description="ROUTINE",
                                   status=statuses[i % 10])
            for k, i in enumerate(chunk)])
        HL7Message.objects.bulk_create([
            HL7Message(sending_application="RIS", sending_facility="HOSP", control_id=f"C{i}", message_type="ORM^O01",
                       order_control="NW", version="2.5.1", outcome="AA" if i % 50 else "AR",
                       raw=(f"MSH|^~\\&|RIS|HOSP|BROKER|RAD|20260101||ORM^O01|C{i}|P|2.5.1\rPID|1||BP{i}\rORC|NW|BPL{i}\r").encode(),
                       ack=f"MSH|^~\\&|BROKER|RAD|RIS|HOSP|20260101||ACK|A{i}|P|2.5.1\rMSA|AA|C{i}", order_id=order_ids[k],
                       processing_ms=3.0)
            for k, i in enumerate(chunk)])
        imaged = [(k, i) for k, i in enumerate(chunk) if i % 5 == 0]
        studies = Study.objects.bulk_create([
            Study(study_instance_uid=f"1.2.826.0.1.3680043.10.1455.9.{i}", patient_id=f"BP{i}", accession_number=f"BA{i:08d}",
                  order_id=order_ids[k], state="COMPLETE", missing_instances=1 if i % 500 == 0 else 0, last_received_at=when[i])
            for k, i in imaged])
        RoutingJob.objects.bulk_create([
            RoutingJob(study_id=study.pk, destination=destination, state="DONE" if n % 20 else "FAILED", sent=10, total=10,
                       last_error="" if n % 20 else "Connection refused")
            for n, study in enumerate(studies)])
        PerformedProcedureStep.objects.bulk_create([
            PerformedProcedureStep(sop_instance_uid=f"1.2.826.0.1.3680043.10.1455.8.{i}", status="COMPLETED", calling_ae=stations[i % 7][0],
                                   performed_station_ae_title=stations[i % 7][0], modality=stations[i % 7][1], started_at=when[i])
            for _, i in imaged])
        RisNotification.objects.bulk_create([
            RisNotification(endpoint=endpoint, order_id=order_ids[k], event="CM", message="MSH|...", state="SENT" if i % 100 else "FAILED")
            for k, i in imaged])
        WorklistQuery.objects.bulk_create([
            WorklistQuery(calling_ae=stations[i % 7][0], identifier={}, keys_summary="Modality=CT", match_count=i % 30,
                          duration_ms=5 + i % 40)
            for i in chunk if i % 4 == 0])
        print(f"  {chunk.stop} orders", end="\r", flush=True)
    # Put the order times where the history says (auto_now_add stamped them all now).
    if n_orders:
        for days in range(0, 101, 1):
            low, high = (n_orders * days) // 100, (n_orders * (days + 1)) // 100
            ImagingOrder.objects.filter(accession_number__gte=f"BA{low:08d}", accession_number__lt=f"BA{high:08d}").update(
                created_at=now - timedelta(days=days))
    print(f"created {n_orders} orders with their messages, steps and images in {time.monotonic() - started:.0f} s")


def measure(client, url: str, requests: int) -> float:
    response = client.get(url)  # warm-up (template loading, connection)
    assert response.status_code == 200, f"{url} answered {response.status_code}"
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(times)


def main():
    args = parse_args()
    n_orders = args.orders or (10_000 if args.quick else 100_000)
    requests = args.requests or (3 if args.quick else 7)
    database_url = choose_database(args)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.BROKER_HEALTH_CHECKS = ["database"]
    call_command("migrate", verbosity=0)
    populate(n_orders)
    if connection.vendor == "postgresql":
        # What autovacuum does shortly after a bulk load: statistics for the planner, visibility for index-only scans.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    from django.contrib.auth.models import Group, User

    from broker.dicom.models import WorklistQuery
    from broker.hl7.models import HL7Message
    from worklist.models import ImagingOrder

    user, _ = User.objects.get_or_create(username="bench-viewer", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="administrator"))
    client = Client()
    client.force_login(user)
    order = ImagingOrder.objects.order_by("-pk").first()
    message = HL7Message.objects.order_by("-pk").first()
    query = WorklistQuery.objects.order_by("-pk").first()
    pages = [
        ("Today's worklist", "/"),
        ("Orders, newest first", "/orders/"),
        ("Orders, search by patient name", "/orders/?q=schneider"),
        ("Orders, search by accession", f"/orders/?q={order.accession_number}"),
        ("Order timeline", f"/orders/{order.pk}/"),
        ("HL7 log", "/hl7/"),
        ("HL7 log, rejected only", "/hl7/?ack=AR"),
        ("HL7 log, search by control ID", f"/hl7/?q={message.control_id}"),
        ("HL7 message", f"/hl7/{message.pk}/"),
        ("Routing queue", "/queues/routing/"),
        ("RIS & MPPS queue", "/queues/outbound/"),
        ("Worklist queries", "/queries/"),
        ("Worklist query", f"/queries/{query.pk}/"),
        ("Problems", "/problems/"),
        ("/metrics", "/metrics"),
        ("Admin: orders", "/admin/worklist/imagingorder/"),
        ("Admin: scheduled steps", "/admin/worklist/scheduledprocedurestep/"),
        ("Admin: HL7 messages", "/admin/hl7/hl7message/"),
    ]
    floor = measure(Client(), "/healthz", requests)
    login_page = measure(Client(), "/login/", requests)
    # The same layout, log-in and permission checks with no rows: what any page costs before its own work.
    empty_page = measure(client, "/orders/?q=NO-SUCH-ORDER", requests)
    rows = []
    for name, url in pages:
        median = measure(client, url, requests)
        rows.append((name, url, median))
        print(f"{name:36} {median:8.1f} ms  {median / floor:6.1f}× floor  {median / empty_page:5.1f}× empty page")
    engine = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    lines = [
        f"{n_orders:,} orders (with as many HL7 messages, scheduled steps; {n_orders // 5:,} studies, MPPS and routing jobs; "
        f"{n_orders // 4:,} worklist queries) on {engine}. Median of {requests} requests after a warm-up, in-process "
        f"through Django's test client as a logged-in user.",
        "",
        f"Floors: `/healthz` (database check only) **{floor:.1f} ms**; an empty dashboard page (same layout, log-in and "
        f"permission checks, no rows: `/orders/?q=NO-SUCH-ORDER`) **{empty_page:.1f} ms**; the log-in page {login_page:.1f} ms.",
        "",
        "| page | URL | median | vs `/healthz` | vs empty page |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, url, median in rows:
        lines.append(f"| {name} | `{url}` | {median:.1f} ms | {median / floor:.1f}× | {median / empty_page:.1f}× |")
    if not args.quick:
        from bench.report import write_section

        write_section("pages", "\n".join(lines))
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
