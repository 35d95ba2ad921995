"""explain_exclusion(): which matching key (or broker default) keeps a step out of a query's answer.

Each constraint of the query's plan is checked on its own against the one step, with the same
SQL the query uses, so the explanation cannot disagree with the worklist the modality saw. The calling
AE's worklist scope, when it had one, is checked the same way: a step it hides is "not visible to this AE",
not a key that did not match.
"""
from django.utils import timezone
from pydicom import Dataset

from worklist.models import ScheduledProcedureStep
from worklist.mwl.keys import SPS_KEYS, TOP_KEYS
from worklist.mwl.plan import build_plan
from worklist.mwl.scope import Scope
from worklist.mwl.values import InvalidIdentifier


def explain_exclusion(identifier: Dataset, step: ScheduledProcedureStep, *, today=None,
                      scope: Scope | None = None) -> list[str]:
    """One sentence per key (and the calling AE's scope) that excludes `step`; an empty list means it matches."""
    try:
        plan = build_plan(identifier, today=today)
    except InvalidIdentifier as exc:
        return [f"The query itself is invalid: {exc.comment}"]
    reasons = []
    one = ScheduledProcedureStep.objects.filter(pk=step.pk)
    if scope is not None and scope.limited and (scope.nothing or not one.filter(scope.q()).exists()):
        reasons.append(f"Not visible to this AE (scope: {scope.describe()}): the step is for station AE title "
                       f"{step.station_ae_title or '(none)'!r}, modality {step.modality or '(none)'!r}.")
    for constraint in plan.constraints:
        if not one.filter(constraint.q).exists():
            if constraint.default:
                reasons.append(f"{constraint.label}: the step is outside the broker's default ({constraint.asked}).")
            else:
                reasons.append(f"{constraint.label}: the query asked for {constraint.asked!r}; "
                               f"this step has {_step_value(constraint.keyword, step)!r}.")
    return reasons


def _step_value(keyword: str, step: ScheduledProcedureStep) -> str:
    """What the step holds for the key, as staff would compare it with the query."""
    name = keyword.rsplit(">", 1)[-1]
    if name == "ScheduledProcedureStepStartDate":
        if step.start is None:
            return ""
        local = timezone.localtime(step.start)
        return f"{local:%Y%m%d} (date only)" if step.start_date_only else f"{local:%Y%m%d %H%M%S}"
    if name.endswith("status") and "__" in name:
        return step.requested_procedure.order.status
    key = SPS_KEYS.get(name) or TOP_KEYS.get(name)
    if key is None:
        return ""
    value = key.get(step)
    if isinstance(value, list):
        return "; ".join(", ".join(f"{k}={v}" for k, v in entry.items()) for entry in value)
    return "" if value is None else str(value)
