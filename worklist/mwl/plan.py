"""Identifier → plan: one constraint (a `Q` plus what staff should read) per matching key, and the defaults.

The plan is pure: it reads the identifier and the clock, never the database. `query` ANDs the
constraints into one queryset; `explain` checks them one by one against a single step.
"""
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from pydicom import Dataset

from worklist.models import ImagingOrder, ScheduledProcedureStep
from worklist.mwl import matching
from worklist.mwl.keys import (
    CODE_COLUMNS,
    CODE_ITEM_KEYS,
    ORDER,
    SPS_KEYS,
    TOP_KEYS,
    Key,
)
from worklist.mwl.validate import check_identifier
from worklist.mwl.values import (
    EMPTY_VALUE,
    InvalidIdentifier,
    Range,
    as_text,
    combine_range,
    is_universal,
    parse_date_range,
    parse_time_range,
)

# Protocol codes are a JSON list on the step; sequence matching looks at its first items.
MAX_PROTOCOL_CODES_MATCHED = 8
# Identifier-level attributes that are not keys (PS3.4 Table K.6-1a) or that MWL ignores.
NOT_KEYS = {"SpecificCharacterSet", "TimezoneOffsetFromUTC", "QueryRetrieveLevel",
            "HL7StructuredDocumentReferenceSequence"}


@dataclass(frozen=True)
class Constraint:
    keyword: str  # "Modality", or "ScheduledProcedureStepSequence>Modality"
    label: str
    asked: str  # the value as the modality sent it, or a description of the default
    q: Q
    default: bool = False  # a broker default, not a key the modality sent


@dataclass
class Plan:
    constraints: list[Constraint] = field(default_factory=list)
    # Keys with a value the broker cannot match on: ignored for matching, answered with 0xFF01.
    unsupported: list[str] = field(default_factory=list)

    def q(self) -> Q:
        combined = Q()
        for constraint in self.constraints:
            combined &= constraint.q
        return combined


def build_plan(identifier: Dataset, *, today: date | None = None, window_days: int | None = None) -> Plan:
    check_identifier(identifier, max_values=settings.BROKER_MWL_MAX_VALUES_PER_KEY)
    plan = Plan()
    tz = timezone.get_current_timezone()
    today = today or timezone.localdate()
    window_days = settings.BROKER_MWL_DEFAULT_WINDOW_DAYS if window_days is None else window_days
    sps_item = None
    sps_seen = False
    for elem in identifier:
        if elem.tag.element == 0 or elem.keyword in NOT_KEYS:
            continue
        if elem.tag.is_private:
            plan.unsupported.append(str(elem.tag))
            continue
        if elem.keyword == "ScheduledProcedureStepSequence":
            sps_seen = True
            sps_item = _single_item(elem, "ScheduledProcedureStepSequence")
            continue
        _add_key(plan, TOP_KEYS.get(elem.keyword), elem, prefix="")

    status_asked = None
    dates = times = None
    if sps_item is not None:
        for elem in sps_item:
            if elem.tag.element == 0:
                continue
            keyword = elem.keyword
            if keyword == "ScheduledProcedureStepStartDate":
                text = as_text(elem.value)
                if text == EMPTY_VALUE:
                    plan.constraints.append(Constraint("ScheduledProcedureStepSequence>" + keyword,
                                                       SPS_KEYS[keyword].label, text, Q(start__isnull=True)))
                    continue
                dates = None if is_universal(text) else parse_date_range(text, keyword)
            elif keyword == "ScheduledProcedureStepStartTime":
                text = as_text(elem.value)
                times = None if is_universal(text) or text == EMPTY_VALUE else parse_time_range(text, keyword)
            elif keyword == "ScheduledProcedureStepStatus":
                status_asked = as_text(elem.value)
            else:
                _add_key(plan, SPS_KEYS.get(keyword), elem, prefix="ScheduledProcedureStepSequence>")
    _add_start(plan, dates, times, sps_item, today, window_days, tz)
    _add_status(plan, status_asked, sps_seen)
    return plan


def _single_item(elem, keyword: str) -> Dataset | None:
    items = list(elem.value or [])
    if len(items) > 1:
        raise InvalidIdentifier(keyword, f"{keyword}: one item only in a query, got {len(items)}")
    return items[0] if items else None


def _add_key(plan: Plan, key: Key | None, elem, *, prefix: str) -> None:
    name = prefix + (elem.keyword or str(elem.tag))
    if key is None or key.match is None:
        if elem.VR == "SQ":
            item = _single_item(elem, name)
            if item is not None and any(not is_universal(as_text(e.value)) for e in item if e.VR != "SQ"):
                plan.unsupported.append(name)
        elif not is_universal(as_text(elem.value)):
            plan.unsupported.append(name)
        return
    if key.match == "code":
        item = _single_item(elem, name)
        if item is not None:
            _add_code_sequence(plan, key, item, name, columns=True)
        return
    if key.match == "json_code":
        item = _single_item(elem, name)
        if item is not None:
            _add_code_sequence(plan, key, item, name, columns=False)
        return
    text = as_text(elem.value)
    q = _match(key, text, name)
    if q is not None:
        plan.constraints.append(Constraint(name, key.label, text, q))


def _match(key: Key, text: str, name: str) -> Q | None:
    if key.match == "text":
        return matching.text_match(key.path, text)
    if key.match == "pn":
        return matching.person_name_match(key.path, text)
    if key.match == "pn_plain":
        return matching.person_name_match(key.path, text, search_column=False)
    if key.match == "multi":
        return matching.multi_valued_match(key.path, text)
    if key.match == "uid":
        return None if is_universal(text) else matching.uid_list_match(key.path, text)
    if key.match == "date":
        if is_universal(text):
            return None
        if text == EMPTY_VALUE:
            return matching.empty_value_match(key.path, nullable=True)
        return matching.range_match(key.path, parse_date_range(text, name))
    raise AssertionError(f"unknown match type {key.match}")


def _add_code_sequence(plan: Plan, key: Key, item: Dataset, name: str, *, columns: bool) -> None:
    """Sequence matching (C.2.2.2.6): an item matches when all its keys match."""
    asked = {}
    for elem in item:
        if elem.keyword in CODE_ITEM_KEYS and not is_universal(as_text(elem.value)):
            asked[elem.keyword] = as_text(elem.value)
        elif elem.VR != "SQ" and not is_universal(as_text(elem.value)):
            plan.unsupported.append(f"{name}>{elem.keyword or elem.tag}")
    if not asked:
        return
    if columns:
        q = Q()
        for keyword, text in asked.items():
            q &= matching.text_match(key.path + CODE_COLUMNS[CODE_ITEM_KEYS[keyword]], text)
    else:
        per_item = []
        for index in range(MAX_PROTOCOL_CODES_MATCHED):
            q_item = Q()
            for keyword, text in asked.items():
                q_item &= matching.text_match(f"{key.path}__{index}__{CODE_ITEM_KEYS[keyword]}", text)
            per_item.append(q_item)
        q = matching.any_of(per_item)
    shown = ", ".join(f"{k}={v}" for k, v in asked.items())
    plan.constraints.append(Constraint(name, key.label, shown, q))


def default_window(today: date, window_days: int) -> Range:
    return Range(today, today + timedelta(days=window_days - 1))


def _add_start(plan: Plan, dates: Range | None, times: Range | None, sps_item, today, window_days, tz) -> None:
    date_name = "ScheduledProcedureStepSequence>ScheduledProcedureStepStartDate"
    time_name = "ScheduledProcedureStepSequence>ScheduledProcedureStepStartTime"
    default = dates is None
    if default:
        if window_days <= 0:
            if times is not None:
                # Times without a date, no window: a daily time-of-day window in the department's zone.
                plan.constraints.append(Constraint(time_name, SPS_KEYS["ScheduledProcedureStepStartTime"].label,
                                                   _asked_time(sps_item), _time_of_day(times)))
            return
        dates = default_window(today, window_days)
    period = combine_range(dates, times, tz)
    if default:
        asked = f"no date sent: the default window of {window_days} day(s) from {today:%Y%m%d}"
    else:
        asked = as_text(sps_item.ScheduledProcedureStepStartDate)
    if times is not None:
        asked += f", time {_asked_time(sps_item)}"
    plan.constraints.append(Constraint(date_name, "Scheduled Procedure Step Start Date/Time", asked,
                                       matching.range_match("start", period), default=default and times is None))


def _asked_time(sps_item) -> str:
    return as_text(sps_item.get("ScheduledProcedureStepStartTime", ""))


def _time_of_day(times: Range) -> Q:
    q = Q(start__isnull=False)
    if times.low is not None:
        q &= Q(start__time__gte=times.low)
    if times.high is not None:
        q &= Q(start__time__lte=times.high)
    return q


def _add_status(plan: Plan, asked: str | None, sps_seen: bool) -> None:
    name = "ScheduledProcedureStepSequence>ScheduledProcedureStepStatus"
    label = SPS_KEYS["ScheduledProcedureStepStatus"].label
    if asked is None or is_universal(asked):
        # STARTED steps are shown too when the modality asks for a status.
        statuses = ScheduledProcedureStep.ACTIVE_STATUSES if asked is not None else ScheduledProcedureStep.WAITING_STATUSES
        why = "status asked without a value" if asked is not None else "status not asked"
        plan.constraints.append(Constraint(name, label, f"{why}: {'/'.join(statuses)}",
                                           Q(status__in=statuses), default=True))
        plan.constraints.append(Constraint(ORDER + "status", "Order status",
                                           f"orders not {'/'.join(ImagingOrder.HIDDEN_STATUSES)}",
                                           ~Q(**{ORDER + "status__in": ImagingOrder.HIDDEN_STATUSES}), default=True))
        return
    # CS: case-sensitive (PS3.4 C.2.2.2.1), leading and trailing spaces not significant (PS3.5 Table 6.2-1).
    values = [v.strip() for v in asked.split("\\") if v.strip()]
    plan.constraints.append(Constraint(name, label, asked, Q(status__in=values)))
