"""find_steps(): a C-FIND identifier as one database query over scheduled procedure steps."""
from dataclasses import dataclass, field

from django.conf import settings
from pydicom import Dataset

from worklist.models import ScheduledProcedureStep
from worklist.mwl.budget import query_budget
from worklist.mwl.plan import Plan, build_plan
from worklist.mwl.scope import ALL, Scope


@dataclass
class QueryResult:
    steps: list = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    truncated: bool = False  # more steps matched than BROKER_MWL_MAX_RESULTS
    scope: Scope = ALL  # the calling AE's worklist scope, ANDed with the plan
    hidden: int = 0  # steps the plan matched that the scope kept out of the answer


# Bookkeeping columns no response carries: not fetched (time-zone conversion of 8 timestamps per row
# was a fifth of the query's time). Deferred, not excluded: code that reads one still gets it.
_NOT_RETURNED = [prefix + column for prefix in ("", "requested_procedure__", "requested_procedure__order__",
                                                 "requested_procedure__order__patient__")
                 for column in ("created_at", "updated_at")]


def matching_steps(plan: Plan, scope: Scope = ALL):
    """The queryset: every constraint and the scope in SQL, the patient/order/procedure joined in (no query per row)."""
    return (ScheduledProcedureStep.objects
            .filter(plan.q() & scope.q())
            .select_related("requested_procedure__order__patient")
            .defer(*_NOT_RETURNED)
            .order_by("start", "pk"))


def hidden_by_scope(plan: Plan, scope: Scope) -> int:
    """Steps the query's keys match that the scope keeps out (counted for the query log; 0 for an unlimited scope)."""
    if not scope.limited:
        return 0
    matched = ScheduledProcedureStep.objects.filter(plan.q())
    return matched.count() if scope.nothing else matched.exclude(scope.q()).count()


def run_query(identifier: Dataset, *, calling_ae: str = "", limit: int | None = None, scope: Scope = ALL) -> QueryResult:
    plan = build_plan(identifier)
    limit = settings.BROKER_MWL_MAX_RESULTS if limit is None else limit
    with query_budget(settings.BROKER_MWL_QUERY_BUDGET_SECONDS):
        rows = [] if scope.nothing else list(matching_steps(plan, scope)[: limit + 1])
        hidden = hidden_by_scope(plan, scope)
    return QueryResult(steps=rows[:limit], plan=plan, truncated=len(rows) > limit, scope=scope, hidden=hidden)


def find_steps(identifier: Dataset, *, calling_ae: str, scope: Scope = ALL) -> list[ScheduledProcedureStep]:
    """The steps a modality calling as `calling_ae` sees for this identifier, earliest first, capped."""
    return run_query(identifier, calling_ae=calling_ae, scope=scope).steps
