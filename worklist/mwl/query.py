"""find_steps(): a C-FIND identifier as one database query over scheduled procedure steps."""
from dataclasses import dataclass, field

from django.conf import settings
from pydicom import Dataset

from worklist.models import ScheduledProcedureStep
from worklist.mwl.plan import Plan, build_plan


@dataclass
class QueryResult:
    steps: list = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    truncated: bool = False  # more steps matched than BROKER_MWL_MAX_RESULTS


def matching_steps(plan: Plan):
    """The queryset: every constraint in SQL, the patient/order/procedure joined in (no query per row)."""
    return (ScheduledProcedureStep.objects
            .filter(plan.q())
            .select_related("requested_procedure__order__patient")
            .order_by("start", "pk"))


def run_query(identifier: Dataset, *, calling_ae: str = "", limit: int | None = None) -> QueryResult:
    plan = build_plan(identifier)
    limit = settings.BROKER_MWL_MAX_RESULTS if limit is None else limit
    rows = list(matching_steps(plan)[: limit + 1])
    return QueryResult(steps=rows[:limit], plan=plan, truncated=len(rows) > limit)


def find_steps(identifier: Dataset, *, calling_ae: str) -> list[ScheduledProcedureStep]:
    """The steps a modality calling as `calling_ae` sees for this identifier, earliest first, capped."""
    return run_query(identifier, calling_ae=calling_ae).steps
