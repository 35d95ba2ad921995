"""PS3.2 4.2.1.4 per service the listener offers: what each SCP does, its keys or attributes and its statuses.

Read from the service modules' own tables (status tables, the MWL key table `worklist.mwl.keys`, the MPPS
requirements `mpps.attributes`, the commitment failure reasons `broker.commitment.decision`). A service in
`broker.dicom.services.SERVICES` without a describer here still gets a section with its SOP classes.
"""
from django.conf import settings
from pydicom.datadict import keyword_for_tag

from broker.commitment import decision, request
from broker.conformance.document import Items, Paragraph, Section, Table
from broker.conformance.tables import attribute_name, condition, first_line, hex_status, tag_text, uid_name
from broker.dicom.services import SERVICES, commitment, mpps, mwl, scp_contexts, storage, verification
from mpps import attributes
from worklist.models import ScheduledProcedureStep
from worklist.mwl.keys import MATCHING_TYPES, SPS_KEYS, TOP_KEYS

SCP_SERVICES = SERVICES
SPS_SEQUENCE = "ScheduledProcedureStepSequence"


def status_rows(table, *, comment: bool = False) -> list[list[str]]:
    """(exception, status[, comment]) rows of a service's table → [status, when] rows, first match first."""
    rows = []
    for entry in table:
        exc_type, status = entry[0], entry[1]
        when = condition(exc_type)
        if comment and len(entry) > 2:
            when = f"{when} (Error Comment: {entry[2]} …)"
        rows.append([hex_status(status), when])
    return rows


def mwl_key_rows() -> list[list[str]]:
    """One row per worklist attribute: [name, tag, keyword, matching types, return key]."""
    rows = []
    for prefix, keys in (("", TOP_KEYS), (f"{SPS_SEQUENCE} > ", SPS_KEYS)):
        if prefix:
            rows.append([attribute_name(SPS_SEQUENCE), tag_text(SPS_SEQUENCE), f"`{SPS_SEQUENCE}`",
                         "Sequence Matching of one item", "yes"])
        for keyword, key in keys.items():
            matching = MATCHING_TYPES[key.match] or "return key only"
            returned = "yes, a value always (type 1)" if key.fallback else "yes"
            rows.append([f"{prefix}{key.label}", tag_text(keyword), f"`{keyword}`", matching, returned])
    return rows


def verification_section() -> list:
    return [Paragraph("C-ECHO is answered 0x0000 (success), or 0x0124 when the calling AE may not use `echo`.")]


def mwl_section() -> list:
    waiting = "/".join(ScheduledProcedureStep.WAITING_STATUSES)
    return [
        Paragraph("Query level: the Modality Worklist Information Model has none; the identifier's keys are "
                  "matched against the scheduled procedure steps. Every key listed below may be a return key; "
                  "a key the broker does not hold is returned empty; a matching value on a key it cannot match "
                  "gives 0xFF01 pending responses (optional keys not supported). Matching on any value is "
                  "case-sensitive except person names (PS3.4 C.2.2.2.1)."),
        Table(["Attribute", "Tag", "Keyword", "Matching (PS3.4 C.2.2.2)", "Return key"], mwl_key_rows()),
        Items([
            f"A query without Scheduled Procedure Step Start Date gets the steps of a window of "
            f"`BROKER_MWL_DEFAULT_WINDOW_DAYS` = {settings.BROKER_MWL_DEFAULT_WINDOW_DAYS} day(s) from today.",
            f"A query without Scheduled Procedure Step Status gets steps in {waiting} only.",
            f"At most `BROKER_MWL_MAX_RESULTS` = {settings.BROKER_MWL_MAX_RESULTS} matches are returned; "
            f"a key may list at most `BROKER_MWL_MAX_VALUES_PER_KEY` = {settings.BROKER_MWL_MAX_VALUES_PER_KEY} "
            "values.",
            f"One query may take `BROKER_MWL_QUERY_BUDGET_SECONDS` = {settings.BROKER_MWL_QUERY_BUDGET_SECONDS:g} s "
            "of database time.",
            f"Calling AEs not in the registry see: `{settings.BROKER_MWL_UNKNOWN_AE_SCOPE}` "
            "(`BROKER_MWL_UNKNOWN_AE_SCOPE`); registered ones their own scope of stations and modalities.",
            "C-CANCEL is honoured between responses (0xFE00).",
        ]),
        Table(["Status", "When"], [
            [hex_status(mwl.SUCCESS), "matching is complete"],
            [hex_status(mwl.PENDING), "a match"],
            [hex_status(mwl.PENDING_UNSUPPORTED_KEYS), "a match; some optional keys were not matched"],
            [hex_status(mwl.CANCELED), "matching ended by C-CANCEL"],
            *status_rows(mwl.FAILURE_STATUS),
        ]),
    ]


def _requirement_rows(label: str, requirements) -> list[list[str]]:
    return [[label, attribute_name(r.keyword), tag_text(r.keyword), r.type] for r in requirements]


def mpps_section() -> list:
    type2 = ("required present (`BROKER_MPPS_REQUIRE_TYPE2` on)" if settings.BROKER_MPPS_REQUIRE_TYPE2
             else "not required (`BROKER_MPPS_REQUIRE_TYPE2` off)")
    rows = (_requirement_rows("N-CREATE", attributes.CREATE_REQUIREMENTS)
            + _requirement_rows("N-CREATE > Scheduled Step Attributes item", attributes.SCHEDULED_STEP_REQUIREMENTS)
            + _requirement_rows("Performed Series item (N-CREATE, N-SET)", attributes.SERIES_REQUIREMENTS)
            + _requirement_rows("Referenced image / non-image item", attributes.REFERENCED_INSTANCE_REQUIREMENTS)
            + _requirement_rows(f"N-SET to {' or '.join(attributes.FINAL_STATUSES)}", attributes.FINAL_REQUIREMENTS))
    not_settable = sorted(attribute_name(keyword_for_tag(tag)) for tag in attributes.NOT_SETTABLE)
    other_ae = ("may" if settings.BROKER_MPPS_ALLOW_OTHER_AE_SET else "may not")
    return [
        Paragraph(f"N-CREATE creates a step {attributes.IN_PROGRESS}; N-SET changes it until it is "
                  f"{' or '.join(attributes.FINAL_STATUSES)}. Type 1 attributes must have a value; Type 2 ones are "
                  f"{type2}. Other attributes are kept as sent and forwarded unchanged. Another AE than the "
                  f"creator {other_ae} N-SET a step (`BROKER_MPPS_ALLOW_OTHER_AE_SET`)."),
        Table(["Where", "Attribute", "Tag", "Type"], rows),
        Paragraph("Not allowed in N-SET (answered 0x0105): " + ", ".join(not_settable) + "."),
        Table(["Status", "When"], [["0x0000", "the request is committed"], *status_rows(mpps.STATUS_FOR_ERROR)]),
    ]


def storage_section() -> list:
    unknown = ("Other storage SOP classes a peer proposes (private, unknown, or newer than the list) are "
               "accepted in the same transfer syntaxes and stored and routed unchanged "
               "(`BROKER_STORAGE_ACCEPT_UNKNOWN` on). SOP classes of other services are refused."
               if settings.BROKER_STORAGE_ACCEPT_UNKNOWN else
               "SOP classes not listed are refused (`BROKER_STORAGE_ACCEPT_UNKNOWN` off).")
    return [
        Paragraph("Each instance is kept byte for byte as received, in the negotiated transfer syntax; 0x0000 is "
                  "answered only after the file is on disk and indexed. A repeated SOP Instance UID is kept "
                  "once. No element is coerced. " + unknown),
        Table(["Status", "When"], [["0x0000", "stored and indexed"], *status_rows(storage.STATUS_FOR_EXCEPTION,
                                                                                  comment=True)]),
    ]


def commitment_section() -> list:
    reasons = [[hex_status(code), words] for code, words in decision.REASONS.items()]
    return [
        Items([
            "N-ACTION (Action Type 1, Request Storage Commitment) is checked and kept, then answered 0x0000.",
            "The outcome is decided from what is durably stored: an instance is committed when both its SOP "
            "Class and SOP Instance UID match a stored instance.",
            "Instances still arriving are waited for up to "
            f"`BROKER_COMMITMENT_WAIT_SECONDS` = {settings.BROKER_COMMITMENT_WAIT_SECONDS:g} s.",
            "The N-EVENT-REPORT (Event Type 1: all committed, 2: failures exist) is sent on the same association "
            "while the modality keeps it open, otherwise on a new one (see Association Initiation Policy) to the "
            "modality's registered address, retried up to "
            f"`BROKER_COMMITMENT_MAX_ATTEMPTS` = {settings.BROKER_COMMITMENT_MAX_ATTEMPTS} times.",
            "A committed instance is kept until every routing destination confirmed it and "
            f"`BROKER_RETENTION_DAYS` = {settings.BROKER_RETENTION_DAYS} days passed; the broker is not an "
            "archive.",
        ]),
        Paragraph("Failure Reasons (0008,1197) in the Failed SOP Sequence:"),
        Table(["Failure Reason", "Meaning"], reasons),
        Table(["N-ACTION Status", "When"], [
            ["0x0000", "the request is kept"],
            [hex_status(request.NO_SUCH_ACTION), "Action Type ID other than 1"],
            [hex_status(request.INVALID_ARGUMENT_VALUE), "Transaction UID or Referenced SOP Sequence missing or "
                                                         "malformed (the Error Comment names it)"],
            *status_rows(commitment.STATUS_FOR_ERROR, comment=True)]),
    ]


SUMMARIES = {
    verification: "Verification SCP: C-ECHO.",
    mwl: "Modality Worklist SCP: C-FIND on the scheduled procedure steps of the RIS's orders.",
    mpps: "Modality Performed Procedure Step SCP: N-CREATE and N-SET; the scheduled steps and the RIS follow.",
    storage: "Storage SCP: C-STORE of every storage SOP class; instances are kept as received and routed.",
    commitment: "Storage Commitment Push Model SCP: N-ACTION, answered by N-EVENT-REPORT.",
}

DESCRIBERS = {
    verification: verification_section,
    mwl: mwl_section,
    mpps: mpps_section,
    storage: storage_section,
    commitment: commitment_section,
}


def summary(service) -> str:
    return SUMMARIES.get(service) or first_line(service)


def acceptance_sections() -> list[Section]:
    """One section per SCP service, in the listener's order."""
    sections = []
    contexts = scp_contexts()
    for service in SCP_SERVICES:
        classes = [c.sop_class for c in contexts if c.service is service]
        title = uid_name(classes[0]) + " SCP" if len(classes) == 1 else first_line(service).split(":")[0]
        describe = DESCRIBERS.get(service)
        blocks = describe() if describe else [Paragraph(first_line(service))]
        sections.append(Section(title, blocks))
    return sections
