"""The HL7 v2 interface of the statement: messages taken, order control codes, fields read, ACK rules, MLLP.

Read from the intake's own tables: `broker.hl7.intake.HANDLERS` (message types), `SUPPORTED_VERSIONS`,
`PROCESSING_IDS`, `worklist.hl7map.orders.ORDER_CONTROL` / `ORDER_STATUS`, `worklist.hl7map.fields_read`,
`broker.hl7.outcomes.ACK_CODES` and `broker.hl7.ack.ERROR_TEXT`.
"""
from django.conf import settings

from broker.conformance.document import Items, Paragraph, Section, Table
from broker.conformance.tables import condition
from broker.core.hl7v2 import charsets
from broker.hl7 import intake, outcomes
from broker.hl7.ack import ERROR_TEXT
from worklist.hl7map.fields_read import FIELDS_READ
from worklist.hl7map.orders import ORDER_CONTROL, ORDER_STATUS

ORDER_ACTIONS = {
    "new": "new order: its scheduled steps are put on the worklist",
    "change": "order changed",
    "cancel": "order cancelled: its steps leave the worklist",
    "discontinue": "order discontinued: its steps leave the worklist",
    "status": "the steps' status is set from ORC-5",
}


def message_rows() -> list[list[str]]:
    # The handler's apply function says what a message does: _apply_orders, _apply_update, _apply_merge.
    words = {"orders": "orders (ORC groups)", "update": "patient (and visit) created or updated",
             "merge": "patients merged into the surviving one"}
    return [[f"{code}^{event}", words.get(name := handler.apply.__name__.removeprefix("_apply_"), name)]
            for (code, event), handler in intake.HANDLERS.items()]


def ack_rows() -> list[list[str]]:
    rows = [["AA", "0", "the message is applied and committed (or is a repeat of one that was: the same ACK)"]]
    for exc_type, ack_code, error_code in outcomes.ACK_CODES:
        rows.append([ack_code, f"{error_code} {ERROR_TEXT.get(error_code, '')}".strip(), condition(exc_type)])
    return rows


def field_rows() -> list[list[str]]:
    return [[f"{segment}-{number}", meaning] for segment, number, meaning in FIELDS_READ]


def hl7_interface() -> Section:
    ports = [f"MLLP on port {settings.BROKER_HL7_PORT} (`BROKER_HL7_PORT`)"] if settings.BROKER_HL7_PLAIN else []
    if settings.BROKER_HL7_TLS_PORT:
        ports.append(f"MLLP over TLS on port {settings.BROKER_HL7_TLS_PORT} (`BROKER_HL7_TLS_PORT`)")
    senders = ("only senders an HL7 sender rule allows (`BROKER_HL7_REQUIRE_KNOWN_SENDER` on); others get AR"
               if settings.BROKER_HL7_REQUIRE_KNOWN_SENDER else
               "any sender (`BROKER_HL7_REQUIRE_KNOWN_SENDER` off)")
    return Section("HL7 v2 Interface", [
        Paragraph("The broker is the Order Filler / Department System Scheduler of IHE Scheduled Workflow: it "
                  "takes the RIS's orders and patient updates and sends procedure status back."),
    ], [
        Section("Transport", [
            Items([
                *ports,
                f"Messages accepted from: {senders}.",
                f"At most `BROKER_HL7_MAX_MESSAGE_BYTES` = {settings.BROKER_HL7_MAX_MESSAGE_BYTES} bytes a message; "
                f"a frame must end within `BROKER_HL7_FRAME_TIMEOUT` = {settings.BROKER_HL7_FRAME_TIMEOUT:g} s; an "
                f"idle connection is closed after `BROKER_HL7_IDLE_TIMEOUT` = {settings.BROKER_HL7_IDLE_TIMEOUT:g} s.",
                f"Connections: at most `BROKER_HL7_MAX_CONNECTIONS` = {settings.BROKER_HL7_MAX_CONNECTIONS}, "
                f"`BROKER_HL7_MAX_CONNECTIONS_PER_ADDRESS` = {settings.BROKER_HL7_MAX_CONNECTIONS_PER_ADDRESS} "
                "from one address.",
            ]),
        ]),
        Section("Messages Received", [
            Table(["Message", "Applied as"], message_rows()),
            Paragraph("HL7 versions (MSH-12): " + ", ".join(intake.SUPPORTED_VERSIONS) + ". Processing IDs "
                      "(MSH-11): " + ", ".join(intake.PROCESSING_IDS) + "."),
        ]),
        Section("Order Control Codes", [
            Table(["ORC-1", "Effect"], [[code, ORDER_ACTIONS.get(action, action)]
                                        for code, action in ORDER_CONTROL.items()]),
            Paragraph("Order status (ORC-5) of SC and XO messages:"),
            Table(["ORC-5", "Scheduled Procedure Step Status"], [[k, v] for k, v in ORDER_STATUS.items()]),
        ]),
        Section("Segments and Fields Read", [
            Paragraph("Fields not listed are ignored; so are segments other than these: "
                      + ", ".join(sorted({segment for segment, _, _ in FIELDS_READ})) + "."),
            Table(["Field", "Use"], field_rows()),
        ]),
        Section("Acknowledgements", [
            Paragraph("Original-mode ACKs: MSH, MSA (MSA-2 = MSH-10 as sent) and, for AE and AR, ERR with the "
                      "table 0357 code and the field's location. AA is sent only after the message's changes are "
                      "committed; a repeat (same sender, MSH-10 and content) gets the stored ACK and changes "
                      "nothing. The first matching row wins:"),
            Table(["MSA-1", "Error (table 0357)", "When"], ack_rows()),
        ]),
        Section("Messages Sent", [
            Paragraph("Procedure status to the RIS endpoint (admin, `manage.py risendpoints`), when a modality "
                      "starts, completes or discontinues a step: ORM^O01 (v2.3.1) or OMI^O23 (v2.5.1) with "
                      f"order control SC and the status in ORC-5, as MSH-3/MSH-4 `{settings.BROKER_HL7_APPLICATION}`/"
                      f"`{settings.BROKER_HL7_FACILITY}`; durably queued and retried."),
        ]),
        Section("HL7 Character Sets", [
            Paragraph("MSH-18 values taken (the message is decoded in it); an empty MSH-18 means "
                      f"`{settings.BROKER_HL7_DEFAULT_CHARSET}` (`BROKER_HL7_DEFAULT_CHARSET`). Others get AR 103."),
            Table(["MSH-18", "DICOM Specific Character Set of the stored text"],
                  [[label, f"`{term}`" if term else "(default repertoire)"]
                   for label, (_, term) in charsets.CHARSETS.items()]),
        ]),
    ])
