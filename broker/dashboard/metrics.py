"""The /metrics body in Prometheus text format.

The log counters (HL7 messages, worklist queries) come from running totals (broker/retention/tallies.py) plus
the rows of the last few minutes, so a scrape costs the same at a thousand rows as at millions, and purging old
rows never lowers them. The state gauges are one aggregate query each."""
import os
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Sum

from broker.audit.models import AuditForward
from broker.availability.models import AvailabilityNotification
from broker.dashboard import problems
from broker.dashboard.internal_errors import LOGGER_LABELS, PROCESS_KINDS, logger_label
from broker.dashboard.models import InternalError
from broker.outbound.models import DeliveryState, MppsForward, RisNotification
from broker.retention import tallies
from broker.retention.kinds import KINDS
from broker.retention.models import PurgedTotal
from broker.routing.models import RoutingJob, Study
from mpps.models import PerformedProcedureStep
from worklist.models import ScheduledProcedureStep

QUERY_LATENCY_BUCKETS = tallies.QUERY_LATENCY_BUCKETS


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


class Family:
    def __init__(self, name: str, kind: str, help_text: str):
        self.name, self.kind, self.help_text = name, kind, help_text
        self.samples: list[str] = []

    def add(self, value, suffix: str = "", **labels):
        self.samples.append(f"{self.name}{suffix}{_labels(**labels)} {_number(value)}")
        return self

    def render(self) -> str:
        return "\n".join([f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} {self.kind}", *self.samples])


def _number(value) -> str:
    if value is None:
        return "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _count_by(model, field: str, family: Family, label: str, choices=()) -> Family:
    counts = dict(model.objects.values_list(field).annotate(n=Count("*")).order_by())
    for value in choices:  # every known state appears, at 0 when empty, so alerts see it
        counts.setdefault(value, 0)
    for value in sorted(counts):
        family.add(counts[value], **{label: value})
    return family


def hl7_messages() -> Family:
    family = Family("broker_hl7_messages_total", "counter", "Inbound HL7 messages logged, by message type and ACK code.")
    counts = tallies.current(tallies.HL7)
    for key in sorted(counts):
        message_type, outcome = key.split("|")
        family.add(counts[key], message_type=message_type, ack_code=outcome)
    return family


def worklist_queries() -> list[Family]:
    totals = tallies.current(tallies.QUERIES)
    count, failed = totals.get("count", 0), totals.get("failed", 0)
    queries = Family("broker_worklist_queries_total", "counter", "Modality worklist C-FIND requests answered, by outcome.")
    queries.add(count - failed, outcome="success").add(failed, outcome="failure")
    latency = Family("broker_worklist_query_duration_seconds", "histogram", "Time to answer a worklist C-FIND request.")
    for i, bound in enumerate(QUERY_LATENCY_BUCKETS):
        latency.add(totals.get(f"le_{i}", 0), suffix="_bucket", le=repr(bound))
    latency.add(count, suffix="_bucket", le="+Inf")
    latency.add(float(totals.get("duration_total_ms", 0) / 1000), suffix="_sum")
    latency.add(count, suffix="_count")
    matches = Family("broker_worklist_query_matches_total", "counter", "Scheduled steps returned by worklist queries.")
    matches.add(totals.get("matches_total", 0))
    return [queries, latency, matches]


def retention_purged() -> Family:
    family = Family("broker_retention_purged_total", "counter",
                    "Log rows deleted by the retention purge (BROKER_RETENTION_*_DAYS), by kind.")
    purged = dict(PurgedTotal.objects.values_list("kind", "purged"))
    for kind in KINDS:  # every kind present, at 0 before its first purge
        family.add(purged.get(kind.name, 0), kind=kind.name)
    return family


def mpps() -> Family:
    family = Family("broker_mpps", "gauge", "Performed procedure steps, by status.")
    return _count_by(PerformedProcedureStep, "status", family, "status", PerformedProcedureStep.Status.values)


def stale_mpps() -> Family:
    family = Family("broker_mpps_stale", "gauge",
                    "Performed procedure steps IN PROGRESS for longer than BROKER_MPPS_STALE_HOURS (final N-SET missing).")
    return family.add(problems.stale_mpps().count())


def scheduled_steps() -> Family:
    family = Family("broker_scheduled_steps", "gauge", "Scheduled procedure steps, by status.")
    return _count_by(ScheduledProcedureStep, "status", family, "status", ScheduledProcedureStep.Status.values)


def routing_jobs() -> Family:
    family = Family("broker_routing_jobs", "gauge", "Routing jobs, by state.")
    return _count_by(RoutingJob, "state", family, "state", RoutingJob.State.values)


def studies() -> Family:
    family = Family("broker_studies", "gauge", "Received studies, by state.")
    return _count_by(Study, "state", family, "state", Study.State.values)


def outbound() -> list[Family]:
    notifications = Family("broker_ris_notifications", "gauge", "HL7 status messages to the RIS, by delivery state.")
    forwards = Family("broker_mpps_forwards", "gauge", "MPPS messages forwarded to other systems, by delivery state.")
    availability = Family("broker_instance_availability_notifications", "gauge",
                          "Instance availability notifications (IAN) to subscribers, by delivery state.")
    return [_count_by(RisNotification, "state", notifications, "state", DeliveryState.values),
            _count_by(MppsForward, "state", forwards, "state", DeliveryState.values),
            _count_by(AvailabilityNotification, "state", availability, "state", DeliveryState.values)]


def queue_depth() -> Family:
    """Work not finished yet, per queue: database rows waiting or retrying, and messages on the task broker."""
    family = Family("broker_queue_depth", "gauge", "Items waiting to be processed, by queue.")
    open_job_states = [RoutingJob.State.WAITING, RoutingJob.State.RUNNING, RoutingJob.State.FAILED]
    family.add(RoutingJob.objects.filter(state__in=open_job_states).count(), queue="routing")
    open_delivery = ["PENDING", "RUNNING", "FAILED"]
    family.add(RisNotification.objects.filter(state__in=open_delivery).count(), queue="ris_notifications")
    family.add(MppsForward.objects.filter(state__in=open_delivery).count(), queue="mpps_forwards")
    family.add(AvailabilityNotification.objects.filter(state__in=open_delivery).count(), queue="availability_notifications")
    family.add(AuditForward.objects.filter(state__in=open_delivery).count(), queue="audit_forwards")
    waiting_tasks = task_broker_depth()
    if waiting_tasks is not None:
        family.add(waiting_tasks, queue="task_broker")
    return family


def task_broker_depth() -> int | None:
    """Messages waiting on the Celery broker's default queue, or None when it cannot be read quickly."""
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith("filesystem://"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            return sum(1 for entry in os.scandir(folder) if entry.is_file() and entry.name.endswith(".msg"))
        if url.startswith(("redis://", "rediss://")):
            import redis

            timeout = settings.BROKER_HEALTH_TIMEOUT
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            try:
                return int(client.llen("celery"))
            finally:
                client.close()
    except Exception:  # metrics must render even when the broker is down (healthz reports that)
        return None
    return None


def internal_errors() -> Family:
    family = Family("broker_internal_errors_total", "counter",
                    "Tracebacks the broker logged about its own faults, by process kind and logger.")
    counts = {}
    for process, logger, n in InternalError.objects.values_list("process", "logger").annotate(n=Sum("count")).order_by():
        label = logger_label(logger)
        if process in PROCESS_KINDS and label is not None:  # labels only from the fixed sets
            counts[(process, label)] = counts.get((process, label), 0) + n
    for process in PROCESS_KINDS:  # every series present, at 0 when quiet, so a rate() alert sees it start
        for label in LOGGER_LABELS:
            family.add(counts.get((process, label), 0), process=process, logger=label)
    return family


def render() -> str:
    families = [hl7_messages(), *worklist_queries(), mpps(), stale_mpps(), scheduled_steps(), routing_jobs(), studies(),
                *outbound(), queue_depth(), internal_errors(), retention_purged()]
    return "\n".join(family.render() for family in families) + "\n"
