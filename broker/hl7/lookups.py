"""The message types in the HL7 log, for filters that would otherwise need a DISTINCT over the whole log per page view."""
from django.core.cache import cache

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


SENDERS_CACHE_KEY = "hl7:senders"


def hl7_senders() -> list[str]:
    """The sending applications (MSH-3) in the HL7 log, remembered for a minute, for the log's sender filter."""
    senders = cache.get(SENDERS_CACHE_KEY)
    if senders is None:
        senders = list(HL7Message.objects.order_by("sending_application")
                       .values_list("sending_application", flat=True).distinct())
        cache.set(SENDERS_CACHE_KEY, senders, MESSAGE_TYPES_CACHE_SECONDS)
    return senders
