"""The audit trail page (/audit/): administrators read who did what to which patient's data, with filters.

Reading it is itself recorded (view.audit, Audit Log Used), but for the page's own auto-refresh.
"""
import json
from datetime import timedelta

from django.contrib.auth.decorators import permission_required

from broker.audit import events, search
from broker.audit.trail import actor_of, record
from broker.dashboard.params import PageParams
from broker.dashboard.views import _page, _start_of, can_view, is_partial, paginate

can_read_audit = permission_required("audit.view_auditevent", raise_exception=True)

DETAIL_SUMMARY_LENGTH = 160
# Detail entries too long or too internal to summarise in a row (the export has them all).
_UNSUMMARISED = {"configuration", "before", "after", "through_hash", "path"}


def object_summary(ref: dict) -> str:
    """One object reference as a person reads it: "order ACC1", "hl7 MSG1", "study 1.2.3", "routing job #2"."""
    kind = str(ref.get("type", "object")).replace("_", " ")
    for key in ("accession", "control_id", "uid", "name", "ae", "placer"):
        if ref.get(key):
            return f"{kind} {ref[key]}"
    return f"{kind} #{ref['id']}" if ref.get("id") not in (None, "") else kind


def detail_summary(detail: dict) -> str:
    """The detail as one short line: "key: value" pairs, before/after shown as the fields changed."""
    parts = []
    if isinstance(detail.get("after"), dict) or isinstance(detail.get("before"), dict):
        changed = sorted(set(detail.get("before") or {}) | set(detail.get("after") or {}))
        parts.append("changed: " + ", ".join(changed))
    for key, value in detail.items():
        if key in _UNSUMMARISED:
            continue
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
        parts.append(f"{key.replace('_', ' ')}: {shown}")
    text = "; ".join(parts)
    return text if len(text) <= DETAIL_SUMMARY_LENGTH else text[:DETAIL_SUMMARY_LENGTH - 1] + "…"


def _rows(page):
    for event in page:
        kind = events.CATALOGUE.get(event.kind)
        yield {"event": event, "description": kind.description if kind else event.kind,
               "objects": [object_summary(ref) for ref in event.object_refs if isinstance(ref, dict)],
               "detail": detail_summary(event.detail) if isinstance(event.detail, dict) else ""}


@can_view
@can_read_audit
def audit_trail(request):
    params = PageParams.of(request)
    kinds = sorted(events.CATALOGUE.values(), key=lambda kind: kind.name)
    since, until = params.optional_day("from", "start date"), params.optional_day("to", "end date")
    if since and until and until < since:
        params.notice(f"The end date {until} is before the start date {since}; showing from {since} on.")
        until = None
    trail_filter = search.TrailFilter(
        person=params.text("person", "person"), patient=params.text("patient", "patient ID"),
        ae=params.text("ae", "AE title"), kind=params.choice("kind", "event type", events.CATALOGUE),
        since=_start_of(since) if since else None, until=_start_of(until + timedelta(days=1)) if until else None)
    matching, cut_short = search.matching(trail_filter)
    if cut_short:
        params.notice(f"On SQLite the patient search reads only the newest {search.SQLITE_PATIENT_SCAN:,} events; "
                       "older ones are not shown.")
    page = paginate(request, matching)
    rows = list(_rows(page))  # read before this view is recorded: the page shows the trail as it was when opened
    if not is_partial(request):
        record(events.VIEW_AUDIT, **actor_of(request), objects=[{"type": "audit_log", "uri": request.build_absolute_uri()}],
               detail={"filters": trail_filter.as_detail(), "page": page.number, "path": request.path})
    return _page(request, "dashboard/audit.html", {
        "page": page, "rows": rows, "kinds": kinds,
        "filters": {"person": trail_filter.person, "patient": trail_filter.patient, "ae": trail_filter.ae,
                    "kind": trail_filter.kind, "from": since.isoformat() if since else "",
                    "to": until.isoformat() if until else ""},
    }, refresh=True)
