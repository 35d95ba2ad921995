"""The listener's supported presentation contexts: cheap to copy per association, and extended per association
with the storage SOP classes a peer proposes that the AE does not list (see below).

pynetdicom deep-copies the server's whole context list for every new association (so that one
association's negotiation cannot change another's). With Storage on the same AE that is ~170
contexts and ~2,900 transfer syntax UIDs: tens of milliseconds of CPU per association, even for a
C-ECHO. A context holds only immutable values (UIDs are str, flags are bool/int) plus its list of
transfer syntaxes, so a copy of each context with its own list is as independent as a deep copy.
"""
from pynetdicom.pdu_primitives import SOPClassCommonExtendedNegotiation
from pynetdicom.presentation import PresentationContext


def copy_context(context: PresentationContext) -> PresentationContext:
    clone = PresentationContext.__new__(PresentationContext)  # copy.copy's generic path is 5x slower
    clone.__dict__.update(context.__dict__)
    clone._transfer_syntax = list(context._transfer_syntax)
    return clone


class SupportedContexts(list):
    """A list of PresentationContext whose deepcopy copies each context (see the module docstring)."""

    def __deepcopy__(self, memo) -> list:
        return [copy_context(context) for context in self]


# --- storage SOP classes the AE does not list (BROKER_STORAGE_ACCEPT_UNKNOWN) ---------------------------------------
#
# pynetdicom's acceptor negotiates only against its supported contexts (one per abstract syntax), and it serves a
# DIMSE request by the SOP class's service class, which it knows for the standard classes only. So a private
# storage class (1.2.840.113619.4.3) is accepted in two public steps: at EVT_REQUESTED, before negotiation, each
# proposed abstract syntax that `accepts(uid)` allows and the AE does not list is added to this association's
# supported contexts; at EVT_SOP_COMMON (SOP Class Common Extended Negotiation, PS3.7 D.3.3.6, the standard's way
# of naming the service class of a SOP class the acceptor does not know) those classes are recorded as Storage
# Service Class, so their C-STOREs reach the EVT_C_STORE handler. Nothing of that goes on the wire: an acceptor
# answers no Common Extended item, pynetdicom only keeps them to choose the service class of a request.
# pynetdicom's _config.UNRESTRICTED_STORAGE_SERVICE is not used: it is process-wide and accepts whatever transfer
# syntax is proposed first.

STORAGE_SERVICE_CLASS = "1.2.840.10008.4.2"
MAX_PROPOSED_CONTEXTS = 128  # context IDs are odd numbers 1-255; a longer proposal is negotiated as it is
_ADDED = "broker_added_storage_classes"


def support_proposed_storage(assoc, transfer_syntaxes, accepts) -> list[str]:
    """For EVT_REQUESTED: add a context (`transfer_syntaxes`) for each proposed abstract syntax not supported yet
    that `accepts(uid)` allows; returns the SOP Class UIDs added. Nothing is added to an association already
    rejected or aborted, or to a proposal of more than 128 contexts."""
    primitive = assoc.requestor.primitive
    proposed = list(primitive.presentation_context_definition_list or []) if primitive is not None else []
    if assoc.is_rejected or assoc.is_aborted or not proposed or len(proposed) > MAX_PROPOSED_CONTEXTS:
        return []
    supported = list(assoc.acceptor.supported_contexts)
    listed = {str(context.abstract_syntax) for context in supported}
    added: list[str] = []
    for requested in proposed:
        uid = str(requested.abstract_syntax or "")
        if uid in listed or not accepts(uid):
            continue
        context = PresentationContext()
        context.abstract_syntax = uid
        context.transfer_syntax = list(transfer_syntaxes)
        supported.append(context)
        listed.add(uid)
        added.append(uid)
    if added:
        assoc.acceptor.supported_contexts = supported
        setattr(assoc, _ADDED, tuple(added))
    return added


def added_storage_classes(assoc) -> tuple[str, ...]:
    """The SOP classes `support_proposed_storage` added to this association."""
    return getattr(assoc, _ADDED, ())


def declare_added_as_storage(event) -> dict:
    """EVT_SOP_COMMON: the classes added to this association belong to the Storage Service Class. The peer's own
    SOP Class Common Extended items are left unanswered, as pynetdicom's default handler does."""
    items = {}
    for uid in added_storage_classes(event.assoc):
        item = SOPClassCommonExtendedNegotiation()
        item.sop_class_uid = uid
        item.service_class_uid = STORAGE_SERVICE_CLASS
        items[uid] = item
    return items
