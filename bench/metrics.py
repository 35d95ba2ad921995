"""Cost of one /metrics scrape at 1,000 and at 200,000 rows in the HL7 message log and the worklist query log.

    .venv/bin/python bench/metrics.py            # PostgreSQL scratch DB broker_bench_metrics (made again each run)
    .venv/bin/python bench/metrics.py --sqlite   # SQLite file under bench/.work/
    .venv/bin/python bench/metrics.py --quick    # 1,000 and 20,000 rows, fewer scrapes (not written to docs)

In the same run and at each size it times, median of several calls after a warm-up: the two log families as
/metrics computed them before (one aggregate over the whole log), the same families from the running totals
(broker/retention/tallies.py), and the whole /metrics through Django's test client with the bearer token. Each
size also holds 500 rows of the last minute, which the totals have not folded yet (a scrape adds them live).
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
PG_URL = os.environ.get("BENCH_METRICS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/broker_bench_metrics")
RECENT_ROWS = 500
TOKEN = "bench-metrics-token"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 20,000 rows; docs are not rewritten")
    parser.add_argument("--sqlite", action="store_true", help="use SQLite instead of PostgreSQL")
    parser.add_argument("--scrapes", type=int, default=None, help="timed calls per figure")
    return parser.parse_args()


def setup(args) -> str:
    sys.path.insert(0, str(ROOT))
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ["BROKER_METRICS_TOKEN"] = TOKEN
    if args.sqlite:
        path = WORK / "metrics.sqlite3"
        path.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
        os.environ["BROKER_DATA_DIR"] = str(WORK)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return "SQLite"
    from bench.support import scratch_django

    scratch_django(PG_URL, WORK)
    return "PostgreSQL"


def add_rows(count: int, days_back: float) -> None:
    """`count` more rows in each log, spread over the `days_back` days before the last minute."""
    from django.utils import timezone

    from broker.dicom.models import WorklistQuery
    from broker.hl7.models import HL7Message

    batch = 5000
    now = timezone.now()
    for model, make in ((HL7Message, _message), (WorklistQuery, _query)):
        first = (model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        for start in range(0, count, batch):
            model.objects.bulk_create([make(first + start + i) for i in range(min(batch, count - start))])
        last = model.objects.order_by("-pk").values_list("pk", flat=True).first()
        steps = 50
        span = max(1, (last - first + 1) // steps + 1)
        for n in range(steps):  # auto_now_add stamped them all now: spread them back in time
            low = first + n * span
            model.objects.filter(pk__gte=low, pk__lt=low + span).update(
                received_at=now - timedelta(minutes=5) - timedelta(days=days_back * (steps - n) / steps))


def _message(i: int, sending_application: str = "RIS"):
    from broker.hl7.models import HL7Message

    return HL7Message(sending_application=sending_application, sending_facility="HOSP", control_id=f"C{i}",
                      message_type=("ORM^O01", "ADT^A08", "OMI^O23")[i % 3], order_control="NW", version="2.5.1",
                      outcome="AA" if i % 50 else "AR", raw=f"MSH|^~\\&|RIS|HOSP|BROKER|RAD|20260101||ORM^O01|C{i}|P|2.5.1\r".encode(),
                      ack=f"MSA|AA|C{i}", processing_ms=3.0)


def _query(i: int, calling_ae: str = ""):
    from broker.dicom.models import WorklistQuery

    return WorklistQuery(calling_ae=calling_ae or f"CT{i % 7:02d}", identifier={}, keys_summary="Modality=CT", match_count=i % 30,
                         duration_ms=5 + i % 40, status=0 if i % 100 else 0xC000)


def add_recent_rows() -> None:
    """The last minute's traffic, above the older rows: rows the running totals have not folded yet."""
    from broker.dicom.models import WorklistQuery
    from broker.hl7.models import HL7Message

    HL7Message.objects.filter(sending_application="RECENT").delete()
    WorklistQuery.objects.filter(calling_ae="RECENT").delete()
    first = (HL7Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    HL7Message.objects.bulk_create([_message(first + i, sending_application="RECENT") for i in range(RECENT_ROWS)])
    WorklistQuery.objects.bulk_create([_query(first + i, calling_ae="RECENT") for i in range(RECENT_ROWS)])


def previous_log_families():
    """/metrics's log families as computed before the running totals: aggregates over the whole logs."""
    from django.db.models import Count, Q, Sum

    from broker.dicom.models import WorklistQuery
    from broker.hl7.models import HL7Message
    from broker.retention.tallies import QUERY_LATENCY_BUCKETS

    list(HL7Message.objects.values_list("message_type", "outcome").annotate(n=Count("*")).order_by("message_type", "outcome"))
    buckets = {f"le_{i}": Count("pk", filter=Q(duration_ms__lte=bound * 1000)) for i, bound in enumerate(QUERY_LATENCY_BUCKETS)}
    WorklistQuery.objects.aggregate(count=Count("pk"), duration_total_ms=Sum("duration_ms"), matches_total=Sum("match_count"),
                                    failed=Count("pk", filter=~Q(status=0)), **buckets)


def tallied_log_families():
    from broker.dashboard import metrics

    metrics.hl7_messages()
    metrics.worklist_queries()


def timed(call, scrapes: int) -> float:
    call()  # warm-up (and the first fold of the rows below the settle time)
    times = []
    for _ in range(scrapes):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    args = parse_args()
    sizes = (1_000, 20_000) if args.quick else (1_000, 200_000)
    scrapes = args.scrapes or (5 if args.quick else 15)
    engine = setup(args)
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.CELERY_BROKER_URL = "memory://"  # the queue-depth family reads no server here
    client = Client()

    def whole_scrape():
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.status_code

    results = []
    have = 0
    for size in sizes:
        add_rows(size - RECENT_ROWS - have, days_back=90)
        add_recent_rows()
        have = size - RECENT_ROWS
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        row = {"size": size, "previous": timed(previous_log_families, scrapes), "tallied": timed(tallied_log_families, scrapes),
               "scrape": timed(whole_scrape, scrapes)}
        results.append(row)
        print(f"{size:>8,} rows per log: previous {row['previous']:.2f} ms, totals {row['tallied']:.2f} ms, "
              f"/metrics {row['scrape']:.2f} ms")
    small, large = results[0], results[-1]
    load = os.getloadavg()[0]
    lines = [
        f"HL7 message log and worklist query log with {small['size']:,} and with {large['size']:,} rows each "
        f"({RECENT_ROWS} of them from the last minute, not yet folded into the totals), on {engine}. "
        f"Median of {scrapes} calls after a warm-up, in one run; load average {load:.1f} at the end (on a "
        f"shared machine single figures move by tens of percent from run to run; the gap between the ratios does not).",
        "",
        "| what is computed | " + " | ".join(f"{r['size']:,} rows" for r in results) + f" | {large['size']:,} / {small['size']:,} |",
        "| --- | " + " | ".join("---:" for _ in results) + " | ---: |",
    ]
    for key, label in (("previous", "log families, previous way (aggregate over the whole log)"),
                       ("tallied", "log families from the running totals (`broker/retention/tallies.py`)"),
                       ("scrape", "whole `/metrics` through the test client (all families)")):
        lines.append(f"| {label} | " + " | ".join(f"{r[key]:.2f} ms" for r in results)
                     + f" | **{large[key] / small[key]:.2f}×** |")
    print("\n".join(lines))
    if not args.quick:
        from bench.report import write_section

        write_section(f"metrics-{engine.lower()}", "\n".join(lines))


if __name__ == "__main__":
    main()
