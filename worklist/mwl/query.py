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

PAGE = 50  # steps loaded per database round trip of a large answer


@dataclass
class QueryResult:
    first_page: list = field(default_factory=list)  # the first steps, loaded
    later_ids: list = field(default_factory=list)  # the ids of the rest, in answer order, for load_page()
    plan: Plan = field(default_factory=Plan)
    truncated: bool = False  # more steps matched than BROKER_MWL_MAX_RESULTS

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


def matching_steps(plan: Plan):
    """The queryset: every constraint in SQL, the patient/order/procedure joined in (no query per row)."""
    return (ScheduledProcedureStep.objects
            .filter(plan.q())
            .select_related("requested_procedure__order__patient")
            .defer(*_NOT_RETURNED)
            .order_by("start", "pk"))


def run_query(identifier: Dataset, *, calling_ae: str = "", limit: int | None = None) -> QueryResult:
    """The first page of the steps this identifier matches, earliest first, and the ids of the rest (capped)."""
    plan = build_plan(identifier)
    limit = settings.BROKER_MWL_MAX_RESULTS if limit is None else limit
    first = min(PAGE, limit)
    with query_budget(settings.BROKER_MWL_QUERY_BUDGET_SECONDS):
        rows = list(matching_steps(plan)[: first + 1])
        if len(rows) <= first:
            return QueryResult(first_page=rows, plan=plan, truncated=len(rows) > limit)
        ids = list(matching_steps(plan).values_list("pk", flat=True)[: limit + 1])
    shown = {row.pk for row in rows[:first]}
    rest = [pk for pk in ids[:limit] if pk not in shown][: limit - first]
    return QueryResult(first_page=rows[:first], later_ids=rest, plan=plan, truncated=len(ids) > limit)


def load_page(plan: Plan, step_ids: list) -> list[ScheduledProcedureStep]:
    """One later page of an answer, in its order. The plan is applied again: a step that changed since the
    query and no longer matches (rescheduled, cancelled) is not sent."""
    with query_budget(settings.BROKER_MWL_QUERY_BUDGET_SECONDS):
        by_id = {step.pk: step for step in matching_steps(plan).filter(pk__in=step_ids)}
    return [by_id[pk] for pk in step_ids if pk in by_id]

