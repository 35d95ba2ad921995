"""Worklist scope: the stations and modalities whose scheduled steps one calling AE may see.

The DICOM edge decides which scope a caller has (its remote AE row, or BROKER_MWL_UNKNOWN_AE_SCOPE) and passes
it in; here is what a scope means: a `Q` ANDed with the query's own keys, the words staff read, and the JSON
kept on the query log so the explain page judges a step by the scope the query really had.
"""
from dataclasses import dataclass

from django.db.models import Q


@dataclass(frozen=True)
class Scope:
    stations: tuple[str, ...] = ()  # Scheduled Station AE Titles it may see; empty = any
    modalities: tuple[str, ...] = ()  # modalities it may see; empty = any
    nothing: bool = False  # sees no step at all
    source: str = ""  # where the scope comes from, for staff ("remote AE CT01", "BROKER_MWL_UNKNOWN_AE_SCOPE=none")

    @classmethod
    def of(cls, stations=(), modalities=(), *, source: str = "") -> "Scope":
        return cls(stations=_values(stations), modalities=_values(m.upper() for m in modalities or ()), source=source)

    @classmethod
    def none(cls, *, source: str = "") -> "Scope":
        return cls(nothing=True, source=source)

    @property
    def limited(self) -> bool:
        return self.nothing or bool(self.stations or self.modalities)

    def q(self) -> Q:
        if self.nothing:
            return Q(pk__in=[])
        q = Q()
        if self.stations:
            q &= Q(station_ae_title__in=self.stations)
        if self.modalities:
            q &= Q(modality__in=self.modalities)
        return q

    def describe(self) -> str:
        """'station AE title CT01; modality CT' (or 'no steps'), then where it comes from."""
        if self.nothing:
            what = "no steps"
        elif not self.limited:
            what = "all steps"
        else:
            parts = []
            if self.stations:
                parts.append(f"station AE title {', '.join(self.stations)}")
            if self.modalities:
                parts.append(f"modality {', '.join(self.modalities)}")
            what = "; ".join(parts)
        return f"{what} ({self.source})" if self.source else what

    def as_json(self) -> dict | None:
        if not self.limited:
            return None
        return {"stations": list(self.stations), "modalities": list(self.modalities), "nothing": self.nothing,
                "source": self.source}

    @classmethod
    def from_json(cls, data: dict | None) -> "Scope | None":
        if not data:
            return None
        if data.get("nothing"):
            return cls.none(source=data.get("source", ""))
        return cls.of(data.get("stations", ()), data.get("modalities", ()), source=data.get("source", ""))


def _values(values) -> tuple[str, ...]:
    return tuple(sorted({v.strip() for v in values or () if v and v.strip()}))


ALL = Scope()
