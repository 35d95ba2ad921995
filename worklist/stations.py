"""Which station(s) get a scheduled step when the order names none: the site's StationAssignmentRule rows."""
import time

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from worklist.models import StationAssignmentRule

# Rules change rarely and are read for every order: keep them for a few seconds per process;
# a change made in this process (admin, tests) is seen at once through the signals below.
CACHE_SECONDS = 5.0
_cache: dict = {"rules": None, "loaded_at": 0.0}


def enabled_rules() -> list[StationAssignmentRule]:
    now = time.monotonic()
    if _cache["rules"] is None or now - _cache["loaded_at"] > CACHE_SECONDS:
        _cache["rules"] = list(StationAssignmentRule.objects.filter(enabled=True).order_by("priority", "id"))
        _cache["loaded_at"] = now
    return _cache["rules"]


@receiver(post_save, sender=StationAssignmentRule)
@receiver(post_delete, sender=StationAssignmentRule)
def forget_rules(**_):
    _cache["rules"] = None


def _specificity(rule: StationAssignmentRule) -> int:
    return sum(1 for value in (rule.match_modality, rule.match_procedure_code, rule.match_location) if value)


def assign(modality: str, procedure_code: str, locations: list[str]) -> tuple[str, str]:
    """(station AE titles, station names), several joined by '\\' (DICOM VM 1-n); ('', '') when no rule matches."""
    matching = [
        rule for rule in enabled_rules()
        if (not rule.match_modality or rule.match_modality.upper() == modality.upper())
        and (not rule.match_procedure_code or rule.match_procedure_code == procedure_code)
        and (not rule.match_location or rule.match_location in locations)
    ]
    if not matching:
        return "", ""
    # Lowest priority number first; among equals the rule that names more criteria is the more specific.
    best = min(matching, key=lambda rule: (rule.priority, -_specificity(rule), rule.id))
    titles = [t.strip() for t in best.station_ae_titles.split(",") if t.strip()]
    names = [n.strip() for n in best.station_names.split(",") if n.strip()]
    return "\\".join(titles), "\\".join(names)
