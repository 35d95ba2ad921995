"""Reads of the HL7 log that run often: the message types for the log's filter (a DISTINCT over the whole log per
page view otherwise), and the earlier message whose control ID a new one reuses (once per message received)."""
from django.core.cache import cache
from django.db import connection

from broker.hl7.models import HL7Message

MESSAGE_TYPES_CACHE_KEY = "hl7:message-types"
MESSAGE_TYPES_CACHE_SECONDS = 60


def hl7_message_types() -> list[str]:
    """The message types in the HL7 log, remembered for a minute (new types are rare; a scan of 100,000 rows is not)."""
    types = cache.get(MESSAGE_TYPES_CACHE_KEY)
    if types is None:
        types = list(HL7Message.objects.order_by("message_type").values_list("message_type", flat=True).distinct())
        cache.set(MESSAGE_TYPES_CACHE_KEY, types, MESSAGE_TYPES_CACHE_SECONDS)
    return types


def _column(field: str) -> str:
    return connection.ops.quote_name(HL7Message._meta.get_field(field).column)


def reused_control_id(sending_application: str, sending_facility: str, control_id: str, key: str) -> int | None:
    """The id of the first accepted message with this sender and control ID whose content (`accepted_key`) differs.

    One raw statement: this runs for every message, and Django compiling the same filter costs more than the query
    on the (sender, control ID) index. The plain way, in the differential test, is
    `HL7Message.objects.filter(sending_application=…, sending_facility=…, control_id=…, accepted_key__isnull=False)
    .exclude(accepted_key=key).order_by("pk").first()`.
    """
    sql = (f"SELECT {_column('id')} FROM {connection.ops.quote_name(HL7Message._meta.db_table)} "
           f"WHERE {_column('sending_application')} = %s AND {_column('sending_facility')} = %s "
           f"AND {_column('control_id')} = %s AND {_column('accepted_key')} IS NOT NULL "
           f"AND {_column('accepted_key')} <> %s ORDER BY {_column('id')} LIMIT 1")
    with connection.cursor() as cursor:
        cursor.execute(sql, [sending_application, sending_facility, control_id, key])
        found = cursor.fetchone()
    return found[0] if found else None


SENDERS_CACHE_KEY = "hl7:senders"


def hl7_senders() -> list[str]:
    """The sending applications (MSH-3) in the HL7 log, remembered for a minute, for the log's sender filter."""
    senders = cache.get(SENDERS_CACHE_KEY)
    if senders is None:
        senders = list(HL7Message.objects.order_by("sending_application")
                       .values_list("sending_application", flat=True).distinct())
        cache.set(SENDERS_CACHE_KEY, senders, MESSAGE_TYPES_CACHE_SECONDS)
    return senders
