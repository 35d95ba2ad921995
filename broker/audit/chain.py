"""The hash chain: one canonical serialisation of an event and its SHA-256 over the previous event's hash.

Pure: the same values always give the same bytes, whatever the database returned them as (JSON re-serialised
with sorted keys, the time in UTC with microseconds).
"""
import hashlib
import json
from datetime import UTC, datetime

GENESIS = "0" * 64  # the "previous hash" of the first event

# The event's fields that the hash covers, in this order (the id is not known before the INSERT).
HASHED_FIELDS = ("time", "kind", "outcome", "actor_user", "actor_ae", "actor_address", "patient_ids", "object_refs",
                 "detail")


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(values: dict) -> bytes:
    """The bytes that are hashed: the fields of HASHED_FIELDS as compact JSON with sorted keys."""
    document = {name: values[name] for name in HASHED_FIELDS}
    document["time"] = _time(values["time"])
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def link_hash(previous_hash: str, values: dict) -> str:
    digest = hashlib.sha256(previous_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(values))
    return digest.hexdigest()
