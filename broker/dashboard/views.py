"""Staff pages (read): today's worklist, orders and their timeline, HL7 log, queues, worklist queries, problems."""
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.db.models.functions import Upper
from django.db.models.lookups import Exact
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.safestring import mark_safe

from broker.audit import events as audit_events
from broker.availability.models import AvailabilityNotification
from broker.commitment.models import StorageCommitment
from broker.conformance import statement
from broker.conformance.document import render_html_body
from broker.core import readable
from broker.dashboard import auditing, problems, timeline
from broker.dashboard.params import PageParams
from broker.dicom.models import WorklistQuery
from broker.hl7 import lookups
from broker.hl7.models import HL7Message
from broker.outbound.models import DeliveryState, MppsForward, RisNotification
from broker.routing.models import RoutingJob
from mpps.models import PerformedProcedureStep
from worklist.models import ImagingOrder, Patient, ScheduledProcedureStep
from worklist.mwl.explain import explain_exclusion
from worklist.mwl.scope import Scope
from worklist.names import name_search_prefixes

can_view = permission_required("dashboard.view_dashboard", raise_exception=True)

OPEN_JOB_STATES = [RoutingJob.State.WAITING, RoutingJob.State.RUNNING, RoutingJob.State.FAILED, RoutingJob.State.GAVE_UP]
OPEN_DELIVERY_STATES = [DeliveryState.PENDING, DeliveryState.RUNNING, DeliveryState.FAILED, DeliveryState.GAVE_UP]


def paginate(request, queryset, per_page: int | None = None, name: str = "page"):
    params = PageParams.of(request)
    paginator = Paginator(queryset, per_page or settings.BROKER_DASHBOARD_PAGE_SIZE)
    number = params.page_number(name)
    if number > 1 and number > paginator.num_pages:
        params.past_last_page(number, paginator.num_pages)
    return paginator.get_page(number)


def is_partial(request) -> bool:
    """The refresh script asks for the page body only (the part inside <main>)."""
    return request.headers.get("X-Refresh") == "1"


def _page(request, template: str, context: dict, refresh: bool = False):
    context.setdefault("refresh_seconds", settings.BROKER_DASHBOARD_REFRESH_SECONDS if refresh else 0)
    context["partial"] = is_partial(request)
    context["notices"] = PageParams.of(request).notices
    return render(request, template, context)


@can_view
def worklist_today(request):
    params = PageParams.of(request)
    day = params.day()
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    # Every status named on purpose: no index starts with `start`, but (status, start) does, and the planner
    # then reads one day from it instead of scanning all steps (1 ms instead of 40 with 100,000 steps).
    day_steps = ScheduledProcedureStep.objects.filter(status__in=ScheduledProcedureStep.Status.values,
                                                      start__gte=start, start__lt=start + timedelta(days=1))
    station, modality = params.text("station", "station"), params.text("modality", "modality")
    status = params.choice("status", "status", ScheduledProcedureStep.Status.values)
    steps = day_steps
    if station:
        steps = steps.filter(station_ae_title__icontains=station)  # within one day's steps: bounded
    if modality:
        steps = steps.filter(modality=modality.upper())
    if status:
        steps = steps.filter(status=status)
    q = params.text("q", "search")
    if q:
        # The orders first (indexed lookups, at most a few hundred), then that day's steps of them.
        order_ids = list(ImagingOrder.objects.filter(order_search(q)).values_list("pk", flat=True)[:MAX_PATIENTS_PER_SEARCH])
        steps = steps.filter(requested_procedure__order__in=order_ids)
    steps = steps.select_related("requested_procedure__order__patient").order_by("station_ae_title", "start", "pk")
    # The board: one row per station and modality, one column per step status, counted in one query.
    board = {}
    for row in day_steps.values("station_ae_title", "modality", "status").annotate(n=Count("pk")).order_by():
        key = (row["station_ae_title"], row["modality"])
        board.setdefault(key, dict.fromkeys(ScheduledProcedureStep.Status.values, 0))[row["status"]] = row["n"]
    board_rows = [{"station": key[0], "modality": key[1], "counts": [counts[s] for s in ScheduledProcedureStep.Status.values],
                   "total": sum(counts.values())} for key, counts in sorted(board.items())]
    return _page(request, "dashboard/worklist.html", {
        "day": day, "previous_day": day - timedelta(days=1), "next_day": day + timedelta(days=1),
        "is_today": day == timezone.localdate(), "page": paginate(request, steps, 100),
        "board": board_rows, "statuses": ScheduledProcedureStep.Status.choices,
        "stations": sorted({row["station"] for row in board_rows}),
        "modalities": sorted({row["modality"] for row in board_rows}),
        "filters": {"station": station, "modality": modality, "status": status, "q": q},
    }, refresh=True)


# A name like "schneider" can match thousands of patients; beyond this many the search asks for more letters.
MAX_PATIENTS_PER_SEARCH = 500


def order_search(q: str) -> Q:
    """Orders matching an accession (any case), order number, patient ID or a name in any of the forms people type
    ("Schröder, Hannelore", "Hannelore Schröder", "schroeder", "SCHRÖDER"), as one filter on indexed columns.

    The patients are looked up first, so the order query is an OR of index lookups on one table (no join to
    filter on), which PostgreSQL and SQLite answer from their indexes even with 100,000 orders. Each name form
    is one range scan on the name key's index (worklist.names.name_search_prefixes).
    """
    patients = Q(patient_id=q)
    for prefix in name_search_prefixes(q):
        if len(prefix) >= 2:
            patients |= Q(name_search__startswith=prefix)
    patient_ids = list(Patient.objects.filter(patients).values_list("pk", flat=True)[:MAX_PATIENTS_PER_SEARCH])
    return (Q(Exact(Upper("accession_number"), q.upper())) | Q(placer_order_number=q) | Q(filler_order_number=q)
            | Q(patient_id__in=patient_ids))


@can_view
def order_list(request):
    params = PageParams.of(request)
    q = params.text("q", "search")
    orders = ImagingOrder.objects.select_related("patient").order_by("-created_at", "-pk")
    if q:
        orders = orders.filter(order_search(q))
    status = params.choice("status", "status", ImagingOrder.Status.values)
    if status:
        orders = orders.filter(status=status)
    return _page(request, "dashboard/orders.html", {
        "page": paginate(request, orders), "q": q, "status": status, "statuses": ImagingOrder.Status.choices,
    })


@can_view
def order_detail(request, pk: int):
    order = get_object_or_404(ImagingOrder.objects.select_related("patient"), pk=pk)
    auditing.viewed(request, audit_events.VIEW_ORDER, "order", order.pk, [order.patient.patient_id],
                    accession=order.accession_number)
    return _page(request, "dashboard/order.html", timeline.build(order), refresh=True)


@can_view
def hl7_list(request):
    messages = HL7Message.objects.order_by("-received_at", "-pk")
    params = PageParams.of(request)
    message_type, q = params.text("type", "message type"), params.text("q", "search")
    outcome = params.choice("ack", "outcome", HL7Message.Outcome.values)
    senders = lookups.hl7_senders()  # the choices offered; a newer sender (not yet in the cached list) still filters
    sender = params.text("sender", "sender")
    since, until = params.optional_day("from", "start date"), params.optional_day("to", "end date")
    if message_type:
        messages = messages.filter(message_type=message_type)
    if outcome:
        messages = messages.filter(outcome=outcome)
    if sender:
        messages = messages.filter(sending_application=sender)
    if since:
        messages = messages.filter(received_at__gte=_start_of(since))
    if until:
        messages = messages.filter(received_at__lt=_start_of(until + timedelta(days=1)))
    if q:
        messages = messages.filter(hl7_search(q))
    return _page(request, "dashboard/hl7_list.html", {
        "page": paginate(request, messages.select_related("order")), "types": lookups.hl7_message_types(),
        "outcomes": HL7Message.Outcome.choices, "senders": senders,
        "filters": {"type": message_type, "ack": outcome, "q": q, "sender": sender,
                    "from": since.isoformat() if since else "", "to": until.isoformat() if until else ""},
    }, refresh=True)


def _start_of(day):
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def hl7_search(q: str) -> Q:
    """Messages with this control ID, or this accession or patient ID inside them (any case, refused messages
    too: HL7Message.content_*), or linked to such an order or patient; each an index lookup."""
    key = q.upper()
    # Orders and patients looked up first: an OR over joined tables would scan the whole log.
    order_ids = list(ImagingOrder.objects.filter(Exact(Upper("accession_number"), key)).values_list("pk", flat=True)[:100])
    patient_ids = list(Patient.objects.filter(patient_id=q).values_list("pk", flat=True)[:100])
    return (Q(control_id=q) | Q(content_accession=key) | Q(content_patient_id=key) | Q(order_id__in=order_ids)
            | Q(patient_id__in=patient_ids))


@can_view
def hl7_detail(request, pk: int):
    message = get_object_or_404(HL7Message.objects.select_related("order__patient", "replayed_as", "patient"), pk=pk)
    auditing.viewed(request, audit_events.VIEW_HL7, "hl7", message.pk,
                    [message.patient.patient_id] if message.patient is not None else [], control_id=message.control_id)
    return _page(request, "dashboard/hl7_detail.html", {
        "message": message, "replay_of": message.replay_of.order_by("pk").first(), "codec": readable.hl7_codec(message),
        "can_replay": message.outcome != HL7Message.Outcome.ACCEPTED and message.replayed_as_id is None,
    })


@can_view
def routing_queue(request):
    state = PageParams.of(request).choice("state", "state", RoutingJob.State.values)
    jobs = RoutingJob.objects.select_related("study", "destination", "study__order").order_by("-created_at", "-pk")
    jobs = jobs.filter(state=state) if state else jobs.filter(state__in=OPEN_JOB_STATES)
    counts = dict(RoutingJob.objects.values_list("state").annotate(n=Count("pk")).order_by())
    commitments = commitments_to_watch()
    return _page(request, "dashboard/routing.html", {
        "page": paginate(request, jobs), "state": state,
        "states": [(value, label, counts.get(value, 0)) for value, label in RoutingJob.State.choices],
        "commitments": commitments[:50], "commitments_total": commitments.count(),
    }, refresh=True)


def commitments_to_watch():
    """Storage commitments still open (report not yet taken by the modality), given up, or reported with failures."""
    settled_well = Q(state=DeliveryState.SENT) & ~Q(event_type=2)
    return StorageCommitment.objects.exclude(settled_well).order_by("-created_at", "-pk")


@can_view
def outbound_queue(request):
    state = PageParams.of(request).choice("state", "state", DeliveryState.values)
    states = [state] if state else OPEN_DELIVERY_STATES
    notifications = (RisNotification.objects.filter(state__in=states)
                     .select_related("endpoint", "order__patient").order_by("-created_at", "-pk"))
    forwards = (MppsForward.objects.filter(state__in=states)
                .select_related("destination", "performed_step").order_by("-created_at", "-pk"))
    notification_counts = dict(RisNotification.objects.values_list("state").annotate(n=Count("pk")).order_by())
    forward_counts = dict(MppsForward.objects.values_list("state").annotate(n=Count("pk")).order_by())
    availability = (AvailabilityNotification.objects.filter(state__in=states)
                    .select_related("subscriber", "study").order_by("-created_at", "-pk"))
    availability_counts = dict(AvailabilityNotification.objects.values_list("state").annotate(n=Count("pk")).order_by())
    return _page(request, "dashboard/outbound.html", {
        "notifications": paginate(request, notifications), "forwards": paginate(request, forwards, 50, "fpage"),
        "availability": paginate(request, availability, 50, "ipage"),
        "state": state, "states": [(value, label, notification_counts.get(value, 0), forward_counts.get(value, 0),
                                    availability_counts.get(value, 0)) for value, label in DeliveryState.choices],
    }, refresh=True)


@can_view
def query_list(request):
    queries = WorklistQuery.objects.order_by("-received_at", "-pk")
    params = PageParams.of(request)
    calling_ae = params.text("ae", "calling AE title")
    result = params.choice("result", "result", ["empty", "failed"])
    if calling_ae:
        # AE titles are case-sensitive in DICOM but typed in any case; each spelling is an index lookup.
        queries = queries.filter(calling_ae__in={calling_ae, calling_ae.upper(), calling_ae.lower()})
    if result == "empty":
        queries = queries.filter(match_count=0, status=0)
    elif result == "failed":
        queries = queries.exclude(status=0)
    return _page(request, "dashboard/queries.html", {
        "page": paginate(request, queries), "filters": {"ae": calling_ae, "result": result},
    }, refresh=True)


def _expected_steps(expected: str):
    """The newest steps of the patient (ID or start of the name) or order (accession) staff expected to see."""
    if not expected:
        return []
    order_ids = list(ImagingOrder.objects.filter(order_search(expected)).order_by("-created_at").values_list("pk", flat=True)[:50])
    return list(ScheduledProcedureStep.objects.filter(requested_procedure__order__in=order_ids)
                .select_related("requested_procedure__order__patient").order_by("-start", "pk")[:20])


@can_view
def query_detail(request, pk: int):
    query = get_object_or_404(WorklistQuery, pk=pk)
    expected = PageParams.of(request).text("expected", "search")
    explanations = []
    identifier = timeline.identifier_dataset(query)
    scope = Scope.from_json(query.scope)  # the calling AE's scope as it was for this query
    if expected and identifier is not None:
        # Judged by the query's own day (its date keys and the broker's default window), against the step as it is now.
        day = timezone.localtime(query.received_at).date()
        for step in _expected_steps(expected):
            explanations.append({"step": step, "reasons": explain_exclusion(identifier, step, today=day, scope=scope)})
    shown = {str(identifier.get("PatientID", "") or "")} if identifier is not None else set()
    shown |= {e["step"].requested_procedure.order.patient.patient_id for e in explanations}
    auditing.viewed(request, audit_events.VIEW_QUERY, "query", query.pk, shown, calling_ae=query.calling_ae)
    return _page(request, "dashboard/query_detail.html", {
        "query": query, "identifier": identifier, "expected": expected, "explanations": explanations,
        "searched": bool(expected), "scope": scope,
    })


@can_view
def mpps_detail(request, pk: int):
    performed = get_object_or_404(PerformedProcedureStep.objects.select_related("patient"), pk=pk)
    linked = list(performed.scheduled_steps.select_related("requested_procedure__order__patient"))
    auditing.viewed(request, audit_events.VIEW_MPPS, "mpps", performed.pk,
                    {performed.reported_patient_id, *(s.requested_procedure.order.patient.patient_id for s in linked)},
                    uid=performed.sop_instance_uid)
    return _page(request, "dashboard/mpps_detail.html", {
        "performed": performed, "linked": linked, "series": list(performed.series.all()),
        "requests": list(performed.requests.order_by("received_at", "pk")),
        "candidates": [] if linked else list(problems.link_candidates(performed)),
    })


@can_view
def problem_list(request):
    rejected_ris, rejected_forwards, rejected_availability = problems.stuck_outbound()
    sections = {
        "unscheduled": problems.unscheduled_mpps(),
        "stale_mpps": problems.stale_mpps(),
        "missing": problems.studies_missing_instances().select_related("order"),
        "held": problems.held_studies().select_related("order"),
        "refused_images": problems.refused_instances(),
        "rejected": problems.rejected_messages(),
        "reused_control_ids": problems.reused_control_ids(),
        "refused_mpps": problems.refused_mpps_requests(),
        "refused_commitments": problems.refused_commitment_requests(),
        "given_up_commitments": problems.given_up_commitments(),
        "ris": rejected_ris,
        "forwards": rejected_forwards,
        "availability": rejected_availability,
        "internal_errors": problems.internal_errors(),
    }
    shown = {name: list(queryset[:25]) for name, queryset in sections.items()}
    counts = {name: queryset.count() for name, queryset in sections.items()}
    destinations = problems.failing_destinations()
    counts["destinations"] = len(destinations)
    return _page(request, "dashboard/problems.html", {
        "shown": shown, "counts": counts, "destinations": destinations, "total": sum(counts.values()),
        "stale_hours": settings.BROKER_MPPS_STALE_HOURS,
    }, refresh=True)


@can_view
def conformance_statement(request):
    """The DICOM Conformance Statement of this process's configuration (what `manage.py conformance-statement`
    writes with the same environment)."""
    # render_html_body escapes every text it places; the fragment is markup the broker wrote.
    body = mark_safe(render_html_body(statement.build()))
    return _page(request, "dashboard/conformance.html", {"statement": body})

