"""The /metrics body in Prometheus text format, each family computed with one aggregate query."""
import os
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Q, Sum

from broker.availability.models import AvailabilityNotification
from broker.dashboard import problems
from broker.dashboard.internal_errors import LOGGER_LABELS, PROCESS_KINDS, logger_label
from broker.dashboard.models import InternalError
from broker.dicom.models import WorklistQuery
from broker.hl7.intake import HANDLERS
from broker.hl7.models import HL7Message
from broker.outbound.models import DeliveryState, MppsForward, RisNotification
from broker.routing.models import RoutingJob, Study
from mpps.models import PerformedProcedureStep
from worklist.models import ScheduledProcedureStep

HL7_MESSAGE_TYPES = frozenset(f"{code}^{event}" for code, event in HANDLERS)
ACK_CODES = frozenset(HL7Message.Outcome.values)
# Upper bounds (seconds) of the worklist query latency histogram.
QUERY_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


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
    rows = HL7Message.objects.values_list("message_type", "outcome").annotate(n=Count("*")).order_by("message_type", "outcome")
    counts: dict[tuple[str, str], int] = {}
    for message_type, outcome, n in rows:
        # Labels from a fixed set: what a sender puts in MSH-9 must not mint new time series.
        key = (message_type if message_type in HL7_MESSAGE_TYPES else "other", outcome if outcome in ACK_CODES else "other")
        counts[key] = counts.get(key, 0) + n
    for (message_type, outcome), n in sorted(counts.items()):
        family.add(n, message_type=message_type, ack_code=outcome)
    return family


def worklist_queries() -> list[Family]:
    buckets = {f"le_{i}": Count("pk", filter=Q(duration_ms__lte=bound * 1000)) for i, bound in enumerate(QUERY_LATENCY_BUCKETS)}
    totals = WorklistQuery.objects.aggregate(count=Count("pk"), duration_total_ms=Sum("duration_ms"),
                                             matches_total=Sum("match_count"), failed=Count("pk", filter=~Q(status=0)), **buckets)
    queries = Family("broker_worklist_queries_total", "counter", "Modality worklist C-FIND requests answered, by outcome.")
    queries.add(totals["count"] - totals["failed"], outcome="success").add(totals["failed"], outcome="failure")
    latency = Family("broker_worklist_query_duration_seconds", "histogram", "Time to answer a worklist C-FIND request.")
    for i, bound in enumerate(QUERY_LATENCY_BUCKETS):
        latency.add(totals[f"le_{i}"], suffix="_bucket", le=repr(bound))
    latency.add(totals["count"], suffix="_bucket", le="+Inf")
    latency.add(float((totals["duration_total_ms"] or 0) / 1000), suffix="_sum")
    latency.add(totals["count"], suffix="_count")
    matches = Family("broker_worklist_query_matches_total", "counter", "Scheduled steps returned by worklist queries.")
    matches.add(totals["matches_total"] or 0)
    return [queries, latency, matches]


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
                *outbound(), queue_depth(), internal_errors()]
    return "\n".join(family.render() for family in families) + "\n"
