"""run_query(): a C-FIND identifier as one database query over scheduled procedure steps.

A small answer is loaded whole by that one query. A large one (a station asking for everything today) is loaded
a page at a time while it is sent: the first response goes out after one page, not after a thousand rows, and a
database thread is held for one page at a time, not for the whole answer.
"""
from dataclasses import dataclass, field

from django.conf import settings
from pydicom import Dataset

from worklist.models import ScheduledProcedureStep
from worklist.mwl.budget import query_budget
from worklist.mwl.plan import Plan, build_plan
from worklist.mwl.scope import ALL, Scope

PAGE = 50  # steps loaded per database round trip of a large answer


@dataclass
class QueryResult:
    first_page: list = field(default_factory=list)  # the first steps, loaded
    later_ids: list = field(default_factory=list)  # the ids of the rest, in answer order, for load_page()
    plan: Plan = field(default_factory=Plan)
    truncated: bool = False  # more steps matched than BROKER_MWL_MAX_RESULTS
    scope: Scope = ALL  # the calling AE's worklist scope, ANDed with the plan
    hidden: int = 0  # steps the plan matched that the scope kept out of the answer

    @property
    def count(self) -> int:
        return len(self.first_page) + len(self.later_ids)

    def later_pages(self):
        for start in range(0, len(self.later_ids), PAGE):
            yield self.later_ids[start:start + PAGE]


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
    """The first page of the steps this identifier matches within the scope, earliest first, and the ids of the
    rest (capped); with how many steps the scope hid."""
    plan = build_plan(identifier)
    limit = settings.BROKER_MWL_MAX_RESULTS if limit is None else limit
    first = min(PAGE, limit)
    with query_budget(settings.BROKER_MWL_QUERY_BUDGET_SECONDS):
        hidden = hidden_by_scope(plan, scope)
        rows = [] if scope.nothing else list(matching_steps(plan, scope)[: first + 1])
        if len(rows) <= first:
            return QueryResult(first_page=rows, plan=plan, truncated=len(rows) > limit, scope=scope, hidden=hidden)
        ids = list(matching_steps(plan, scope).values_list("pk", flat=True)[: limit + 1])
    shown = {row.pk for row in rows[:first]}
    rest = [pk for pk in ids[:limit] if pk not in shown][: limit - first]
    return QueryResult(first_page=rows[:first], later_ids=rest, plan=plan, truncated=len(ids) > limit, scope=scope,
                       hidden=hidden)


def load_page(result: QueryResult, step_ids: list) -> list[ScheduledProcedureStep]:
    """One later page of an answer, in its order. The plan and scope are applied again: a step that changed since
    the query and no longer matches (rescheduled, cancelled) is not sent."""
    with query_budget(settings.BROKER_MWL_QUERY_BUDGET_SECONDS):
        by_id = {step.pk: step for step in matching_steps(result.plan, result.scope).filter(pk__in=step_ids)}
    return [by_id[pk] for pk in step_ids if pk in by_id]
