"""The DICOM Conformance Statement (PS3.2, Annex A structure) of the running configuration, as a Document.

`build()` reads the tables the listener, the SCUs, the worklist matcher, the MPPS checks and the HL7 intake
really use, and the settings of this process; `render_markdown` / `render_html` (broker.conformance.document)
write it. `manage.py conformance-statement` and the dashboard's page call these.
"""
from django.conf import settings
from pydicom.charset import python_encoding

from broker.conformance import networking, services
from broker.conformance.document import Document, Items, Paragraph, Section, Table
from broker.conformance.hl7 import hl7_interface
from broker.conformance.tables import uid_name
from broker.core import identity
from broker.dicom import roles
from broker.dicom.services import scp_contexts

TITLE = "DICOM Conformance Statement: Modality Worklist and Workflow Broker"


def overview() -> Section:
    rows = []
    contexts = scp_contexts()
    for service in services.SCP_SERVICES:
        classes = [c.sop_class for c in contexts if c.service is service]
        name = uid_name(classes[0]) if len(classes) == 1 else f"{len(classes)} Storage SOP classes"
        scu = [role.name for role in roles.SCU_ROLES if set(role.sop_classes) & set(classes)]
        rows.append([name, "Yes: " + "; ".join(scu) if scu else "No", "Yes"])
    listed = {c.sop_class for c in contexts}
    for role in roles.SCU_ROLES:
        for uid in role.sop_classes:
            if uid not in listed:
                rows.append([uid_name(uid), f"Yes: {role.name}", "No"])
                listed.add(uid)
        if role.sop_classes_note:
            rows.append([f"Storage: {role.sop_classes_note}", f"Yes: {role.name}", ""])
    return Section("Overview", [
        Paragraph("The broker plays the IHE Scheduled Workflow Order Filler / Department System Scheduler, "
                  "Modality Worklist provider, Performed Procedure Step Manager and a DICOM router in one "
                  f"application entity (`{settings.BROKER_AE_TITLE}`). It takes HL7 v2 orders from the RIS, "
                  "offers them as a Modality Worklist, keeps MPPS, stores and commits images and routes "
                  "completed studies."),
        Table(["Network Service", "User of Service (SCU)", "Provider of Service (SCP)"], rows),
        Paragraph("Media interchange: none."),
    ])


def introduction() -> Section:
    return Section("Introduction", sections=[
        Section("Revision History", [
            Table(["Document version", "Broker version", "Description"],
                  [["generated", identity.VERSION, "written by `manage.py conformance-statement` from the "
                    "running configuration"]]),
        ]),
        Section("Audience", [
            Paragraph("Those who connect modalities, a RIS, PACS or other DICOM and HL7 systems to the broker."),
        ]),
        Section("Remarks", [
            Paragraph("This statement is generated from the tables the broker negotiates, matches and maps with, "
                      "and from the settings of the process that wrote it; another configuration gives another "
                      "statement. `docs/conformance.md` is the one for the default configuration. Testing "
                      "against the peers remains necessary."),
        ]),
        Section("Terms and Definitions", [
            Items(["Abstract Syntax: a SOP class, named by its UID.",
                   "Application Entity (AE): a DICOM end point, named by its AE title.",
                   "Association: the DICOM connection between two AEs for a set of presentation contexts.",
                   "Presentation Context: an abstract syntax with the transfer syntaxes proposed or accepted.",
                   "SCP / SCU: the provider / user of a DICOM service."]),
        ]),
        Section("Abbreviations", [
            Table(["Abbreviation", "Meaning"], [
                ["ACK", "HL7 acknowledgement"], ["AE", "Application Entity"],
                ["MLLP", "Minimal Lower Layer Protocol"], ["MPPS", "Modality Performed Procedure Step"],
                ["MWL", "Modality Worklist"], ["PDU", "Protocol Data Unit"], ["RIS", "Radiology Information System"],
                ["SOP", "Service-Object Pair"], ["SPS", "Scheduled Procedure Step"], ["TLS", "Transport Layer Security"],
                ["UID", "Unique Identifier"]]),
        ]),
        Section("References", [
            Items(["DICOM PS3.2 (Conformance), PS3.4 (Service Class Specifications), PS3.5 (Data Structures and "
                   "Encoding), PS3.7 (Message Exchange), PS3.8 (Network Communication), PS3.15 (Security)",
                   "HL7 v2.3.1 to v2.5.1 chapters 2 and 4; IHE Radiology Technical Framework (Scheduled Workflow)"]),
        ]),
    ])


def character_sets() -> Section:
    terms = [term for term in python_encoding if term]
    return Section("Support of Character Sets", [
        Paragraph("Received data sets are decoded in their Specific Character Set (0008,0005) and kept as "
                  "received. Worklist answers are encoded, in this order, in the character set configured for the "
                  "calling AE (remote AE registry), else the one the query was sent in, else "
                  f"`{settings.BROKER_MWL_DEFAULT_CHARSET}` (`BROKER_MWL_DEFAULT_CHARSET`). A character the answer's "
                  "set cannot hold is transliterated (base letter, romanisation, or `?`); with ISO 2022 code "
                  "extensions only the escape sequences and bytes of the declared sets are sent."),
        Paragraph("Specific Character Set values (Defined Terms, PS3.3 C.12.1.1.2) taken in a query and usable "
                  "for answers; several values only as ISO 2022 code extensions:"),
        Items([f"`{term}`" for term in terms]),
        Paragraph("Person names are matched per component group (alphabetic, ideographic, phonetic), "
                  "case-insensitively; trailing component and group delimiters do not count."),
    ])


def security() -> Section:
    tls_port = settings.BROKER_DICOM_TLS_PORT
    if tls_port:
        mutual = ("clients must present a certificate signed by `BROKER_TLS_CA` (mutual TLS)"
                  if settings.BROKER_TLS_CA else "clients are not asked for a certificate (`BROKER_TLS_CA` empty)")
        plain = ("the plain port is open too" if settings.BROKER_DICOM_PLAIN
                 else "the plain port is closed (`BROKER_DICOM_PLAIN` false)")
        dicom_tls = (f"DICOM over TLS on port {tls_port} (PS3.15 Annex B, Basic TLS Secure Transport Connection "
                     f"Profile, TLS 1.2 or later): {mutual}; {plain}.")
    else:
        dicom_tls = "DICOM over TLS is not configured (`BROKER_DICOM_TLS_PORT` unset): associations are not encrypted."
    hl7_tls = (f"MLLP over TLS on port {settings.BROKER_HL7_TLS_PORT}." if settings.BROKER_HL7_TLS_PORT
               else "MLLP over TLS is not configured (`BROKER_HL7_TLS_PORT` unset).")
    return Section("Security", sections=[
        Section("Security Profiles", [
            Items([dicom_tls, hl7_tls,
                   "Associations the broker opens use TLS towards each peer configured for it (routing and MPPS "
                   "destinations, IAN subscribers, the remote AEs storage commitment reports go to, the RIS "
                   "endpoint), verifying the peer's certificate and host name."]),
        ]),
        Section("Association Level Security", [
            Items([
                "Calling AE titles: " + ("only registered ones (`BROKER_REQUIRE_KNOWN_AE` on)."
                                         if settings.BROKER_REQUIRE_KNOWN_AE else
                                         "any (`BROKER_REQUIRE_KNOWN_AE` off); registered AEs may be bound to a "
                                         "host or network and limited to some services."),
                "Concurrency limits per AE title and per address (see Association Policies).",
            ]),
        ]),
        Section("Application Level Security", [
            Paragraph("Worklist scopes limit what each calling AE sees. The web pages require an account in a "
                      "role; log-in failures lock the account and the address for a while."),
        ]),
    ])


def annexes() -> Section:
    return Section("Annexes", sections=[
        hl7_interface(),
        Section("Standard Extended, Specialized and Private SOP Classes", [
            Paragraph("None defined by the broker. Private storage SOP classes are stored and routed unchanged "
                      "when `BROKER_STORAGE_ACCEPT_UNKNOWN` is on (see Storage SCP)."),
        ]),
        Section("Private Transfer Syntaxes", [Paragraph("None.")]),
    ])


def build() -> Document:
    return Document(TITLE, [
        overview(),
        Section("Table of Contents"),
        introduction(),
        networking.networking(),
        Section("Media Interchange", [Paragraph("The broker does not read or write DICOM media.")]),
        character_sets(),
        security(),
        annexes(),
    ])
