"""PS3.2 section 4, Networking: the implementation model, the AE's SOP classes as SCP and SCU with their
transfer syntaxes, association policies, network interfaces and configuration.

Read from the tables the code negotiates with: `broker.dicom.services.scp_contexts()` (what the listener
accepts) and `broker.dicom.roles.SCU_ROLES` (what each association it opens proposes), and from the settings
the listener and the SCUs really use.
"""
from django.conf import settings

from broker.conformance import services
from broker.conformance.document import Items, Paragraph, Section, Table
from broker.conformance.tables import uid_name
from broker.core import identity
from broker.core.dicom_roles import ScuRole
from broker.dicom import roles
from broker.dicom.services import ScpContext, scp_contexts
from broker.dicom.services import storage as storage_service

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
UNKNOWN_STORAGE_ROW = "Any other storage SOP class (private, unknown, or newer than this list)"


def syntax_sets(contexts: list[ScpContext]) -> dict[tuple[str, ...], str]:
    """Each distinct list of transfer syntaxes, named TS-1, TS-2 … in order of first use."""
    names: dict[tuple[str, ...], str] = {}
    lists = [c.transfer_syntaxes for c in contexts] + [tuple(r.transfer_syntaxes) for r in roles.SCU_ROLES]
    if settings.BROKER_STORAGE_ACCEPT_UNKNOWN:
        lists.append(tuple(storage_service.STORAGE_TRANSFER_SYNTAXES))
    for syntaxes in lists:
        names.setdefault(tuple(syntaxes), f"TS-{len(names) + 1}")
    return names


def _syntax_tables(names: dict) -> list:
    blocks = []
    for syntaxes, name in names.items():
        blocks.append(Paragraph(f"Transfer syntax list {name}:"))
        blocks.append(Table(["Transfer Syntax", "UID"], [[uid_name(uid), f"`{uid}`"] for uid in syntaxes]))
    return blocks


def scp_table(contexts: list[ScpContext], names: dict) -> Table:
    rows = [[uid_name(c.sop_class), f"`{c.sop_class}`", "SCP", names[c.transfer_syntaxes]] for c in contexts]
    if settings.BROKER_STORAGE_ACCEPT_UNKNOWN:
        rows.append([UNKNOWN_STORAGE_ROW, "any storage UID", "SCP",
                     names[tuple(storage_service.STORAGE_TRANSFER_SYNTAXES)]])
    return Table(["SOP Class", "UID", "Role", "Transfer Syntaxes"], rows)


def scu_table(scu_roles: tuple[ScuRole, ...], names: dict) -> Table:
    rows = []
    for role in scu_roles:
        syntaxes = names[tuple(role.transfer_syntaxes)]
        if role.transfer_syntaxes_note:
            syntaxes = f"{syntaxes}; {role.transfer_syntaxes_note}"
        side = "SCU (proposes the SCP role)" if role.scp_role else "SCU"
        for uid in role.sop_classes:
            rows.append([uid_name(uid), f"`{uid}`", side, syntaxes, role.name])
        if role.sop_classes_note:
            rows.append([role.sop_classes_note, "as stored", side, syntaxes, role.name])
    return Table(["SOP Class", "UID", "Role", "Transfer Syntaxes", "Used by"], rows)


def implementation_model() -> Section:
    ae = settings.BROKER_AE_TITLE
    return Section("Implementation Model", sections=[
        Section("Application Data Flow", [
            Paragraph(f"The broker is one DICOM Application Entity, `{ae}`, beside an HL7 v2 interface:"),
            Items([
                "The RIS sends orders and patient updates as HL7 v2 messages over MLLP; the broker keeps them and "
                "answers each with an ACK after the commit.",
                "Modalities query the Modality Worklist (C-FIND), report the procedure with MPPS (N-CREATE, "
                "N-SET), send images (C-STORE) and ask for storage commitment (N-ACTION).",
                "Completed studies are sent on (C-STORE, or C-MOVE at an archive) to routing destinations; MPPS "
                "is forwarded to MPPS destinations; status messages go to the RIS over HL7.",
            ]),
        ]),
        Section("Functional Definition of AEs", [
            Paragraph(f"`{ae}` accepts associations for these services:"),
            Items([services.summary(service) for service in services.SCP_SERVICES]),
            Paragraph(f"`{ae}` opens associations for these:"),
            Items([f"{role.name}: {role.purpose}" for role in roles.SCU_ROLES]),
        ]),
        Section("Sequencing of Real-World Activities", [
            Items([
                "An order must have arrived over HL7 before the modality can find it in the worklist.",
                "MPPS N-CREATE (IN PROGRESS) links the performed step to the scheduled ones; N-SET COMPLETED or "
                "DISCONTINUED ends it; the RIS is told of each change.",
                "A study is complete on MPPS COMPLETED for all its steps, or after "
                f"`BROKER_STUDY_QUIET_SECONDS` ({settings.BROKER_STUDY_QUIET_SECONDS} s) without a new "
                "instance; then it is routed.",
                "A storage commitment request for instances still arriving is answered once they are stored, or "
                f"after `BROKER_COMMITMENT_WAIT_SECONDS` ({settings.BROKER_COMMITMENT_WAIT_SECONDS:g} s) with "
                "what is there.",
            ]),
        ]),
    ])


def association_policies() -> Section:
    pdu = settings.BROKER_DICOM_MAX_PDU
    per_ae = settings.BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE or "no cap"
    per_address = settings.BROKER_DICOM_MAX_ASSOCIATIONS_PER_ADDRESS or "no cap"
    processes = settings.BROKER_DICOM_PROCESSES
    return Section("Association Policies", sections=[
        Section("General", [
            Paragraph(f"Application Context Name: `{APPLICATION_CONTEXT}` ({uid_name(APPLICATION_CONTEXT)})."),
            Table(["Parameter", "Value", "Setting"], [
                ["Maximum PDU size received (listener)", f"{pdu} bytes" if pdu else "unlimited",
                 "`BROKER_DICOM_MAX_PDU`"],
                ["Maximum PDU size received (associations the broker opens)",
                 "per SCU role, see Association Initiation Policy", ""],
                ["Maximum PDU size sent", "the peer's maximum", ""],
            ]),
        ]),
        Section("Number of Associations", [
            Table(["Limit", "Value", "Setting"], [
                ["Simultaneous associations accepted (per listener process)",
                 str(settings.BROKER_DICOM_MAX_ASSOCIATIONS), "`BROKER_DICOM_MAX_ASSOCIATIONS`"],
                ["… from one calling AE title", str(per_ae), "`BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE`"],
                ["… from one network address", str(per_address), "`BROKER_DICOM_MAX_ASSOCIATIONS_PER_ADDRESS`"],
                ["Listener processes sharing the port", str(processes), "`BROKER_DICOM_PROCESSES`"],
                ["Open connections (before association)", str(settings.BROKER_DICOM_MAX_CONNECTIONS),
                 "`BROKER_DICOM_MAX_CONNECTIONS`"],
                ["Associations opened at once", "one per queued delivery being worked on (worker concurrency)", ""],
            ]),
            Paragraph("An association over a limit is rejected transiently (result 2, source 3, reason 2: "
                      "local limit exceeded)."),
        ]),
        Section("Asynchronous Nature", [
            Paragraph("Asynchronous operations are not supported: one operation at a time in each direction. "
                      "An Asynchronous Operations Window proposal is not answered, which leaves the default of "
                      "one outstanding operation invoked and performed (PS3.7 D.3.3.3)."),
        ]),
        Section("Implementation Identifying Information", [
            Table(["Item", "Value"], [
                ["Implementation Class UID", f"`{identity.implementation_class_uid()}`"],
                ["Implementation Version Name", f"`{identity.IMPLEMENTATION_VERSION_NAME}`"],
            ]),
            Paragraph("Both are sent in every association the broker accepts or opens. The class UID is "
                      "`BROKER_UID_ROOT` followed by `.1.` and the broker's version."),
        ]),
    ])


def initiation_policy() -> Section:
    sections = []
    for role in roles.SCU_ROLES:
        rows = [["Purpose", role.purpose]]
        classes = ", ".join(f"{uid_name(uid)} (`{uid}`)" for uid in role.sop_classes)
        if role.sop_classes_note:
            classes = f"{classes}; {role.sop_classes_note}" if classes else role.sop_classes_note
        rows.append(["SOP classes proposed", classes])
        syntaxes = ", ".join(f"{uid_name(uid)} (`{uid}`)" for uid in role.transfer_syntaxes)
        if role.transfer_syntaxes_note:
            syntaxes = f"{role.transfer_syntaxes_note}: {syntaxes}"
        rows.append(["Transfer syntaxes proposed", syntaxes])
        rows.append(["SCP/SCU Role Selection", "proposed: SCU role 0, SCP role 1" if role.scp_role else
                     "not proposed (SCU by default)"])
        rows.append(["Maximum PDU size received", f"{role.maximum_pdu} bytes" if role.maximum_pdu else "unlimited"])
        if role.timeout_setting:
            value = getattr(settings, role.timeout_setting)
            rows.append(["Timeouts (connect, TLS handshake, ACSE, DIMSE, network)",
                         f"{value:g} s (`{role.timeout_setting}`)"])
        if role.peers:
            rows.append(["Peers", role.peers])
        rows.append(["TLS (PS3.15 Annex B)", role.tls or "not used"])
        sections.append(Section(role.name, [Table(["Item", "Value"], rows)]))
    return Section("Association Initiation Policy", [
        Paragraph("The broker opens an association only for queued work, with the calling AE title "
                  f"`{settings.BROKER_AE_TITLE}`. A failed try is retried with a backoff; the work stays queued "
                  "in the database until it is done or an operator gives it up."),
    ], sections)


def acceptance_policy() -> Section:
    called = [settings.BROKER_AE_TITLE, *settings.BROKER_DICOM_CALLED_AE_ALIASES]
    called_text = ("any called AE title (`BROKER_DICOM_ACCEPT_ANY_CALLED_AE`)"
                   if settings.BROKER_DICOM_ACCEPT_ANY_CALLED_AE else ", ".join(f"`{t}`" for t in called))
    calling = ("only calling AE titles registered in the remote AE registry (`BROKER_REQUIRE_KNOWN_AE` on)"
               if settings.BROKER_REQUIRE_KNOWN_AE else
               "any calling AE title; unknown ones are recorded in the remote AE registry "
               f"(at most `BROKER_DICOM_MAX_UNKNOWN_AES` = {settings.BROKER_DICOM_MAX_UNKNOWN_AES})")
    return Section("Association Acceptance Policy", [
        Table(["Check", "Policy", "Rejection"], [
            ["Called AE title", called_text, "permanent, source 1, reason 7 (called AE title not recognised)"],
            ["Calling AE title", calling, "permanent, source 1, reason 3 (calling AE title not recognised)"],
            ["Host binding", "a registered AE bound to an address or network is accepted from there only",
             "permanent, source 1, reason 3"],
            ["Concurrency", "the limits of Number of Associations", "transient, source 3, reason 2"],
            ["Services", "each registered AE may be limited to some services (`echo`, `mwl`, `mpps`, `store`, "
             "`commitment`); a service left out is answered 0x0124 (refused: not authorised)", ""],
        ]),
        Paragraph("Presentation contexts are accepted as listed in SOP Classes; of the transfer syntaxes the peer "
                  "proposes, the first in the broker's list is chosen (the lists are in the broker's order of "
                  "preference). On associations it accepts the broker is SCP only; a proposed SCP/SCU Role "
                  "Selection does not change that. Other extended negotiation is not answered."),
        Table(["Timeout", "Value", "Setting"], [
            ["Association request (from connect; with TLS, including the handshake)",
             f"{settings.BROKER_DICOM_ACSE_TIMEOUT:g} s", "`BROKER_DICOM_ACSE_TIMEOUT`"],
            ["DIMSE message", f"{settings.BROKER_DICOM_DIMSE_TIMEOUT:g} s", "`BROKER_DICOM_DIMSE_TIMEOUT`"],
            ["One PDU, first byte to last", f"{settings.BROKER_DICOM_PDU_TIMEOUT:g} s", "`BROKER_DICOM_PDU_TIMEOUT`"],
            ["Idle association (aborted after)", f"{settings.BROKER_DICOM_NETWORK_TIMEOUT:g} s",
             "`BROKER_DICOM_NETWORK_TIMEOUT`"],
        ]),
    ], services.acceptance_sections())


def ae_specification() -> Section:
    contexts = scp_contexts()
    names = syntax_sets(contexts)
    return Section("AE Specifications", sections=[
        Section(f"{settings.BROKER_AE_TITLE} AE Specification", sections=[
            Section("SOP Classes", [
                Paragraph("As SCP (association acceptor):"),
                scp_table(contexts, names),
                Paragraph("As SCU (association requestor):"),
                scu_table(roles.SCU_ROLES, names),
                *_syntax_tables(names),
            ]),
            association_policies(),
            initiation_policy(),
            acceptance_policy(),
        ]),
    ])


def network_interfaces() -> Section:
    ports = []
    if settings.BROKER_DICOM_PLAIN:
        ports.append(["DICOM", str(settings.BROKER_DICOM_PORT), "TCP", "`BROKER_DICOM_PORT`"])
    if settings.BROKER_DICOM_TLS_PORT:
        ports.append(["DICOM over TLS", str(settings.BROKER_DICOM_TLS_PORT), "TLS 1.2 or later",
                      "`BROKER_DICOM_TLS_PORT`"])
    if settings.BROKER_HL7_PLAIN:
        ports.append(["HL7 v2 over MLLP", str(settings.BROKER_HL7_PORT), "TCP", "`BROKER_HL7_PORT`"])
    if settings.BROKER_HL7_TLS_PORT:
        ports.append(["HL7 v2 over MLLP and TLS", str(settings.BROKER_HL7_TLS_PORT), "TLS 1.2 or later",
                      "`BROKER_HL7_TLS_PORT`"])
    return Section("Network Interfaces", sections=[
        Section("Physical Network Interface", [
            Paragraph("Whatever the host provides: the broker uses the operating system's TCP/IP stack."),
        ]),
        Section("Additional Protocols", [
            Paragraph("DNS resolves the host names of configured peers. No DHCP, NTP or syslog of its own."),
        ]),
        Section("IPv4 and IPv6 Support", [
            Paragraph(f"The listeners bind `{settings.BROKER_HOST}` (`BROKER_HOST`): an IPv4 or IPv6 address."),
            Table(["Listener", "Port", "Transport", "Setting"], ports),
        ]),
    ])


def configuration() -> Section:
    rows = [
        ["`BROKER_AE_TITLE`", settings.BROKER_AE_TITLE, "AE title of the listener and the calling AE title of "
         "every association the broker opens"],
        ["`BROKER_DICOM_CALLED_AE_ALIASES`", ", ".join(settings.BROKER_DICOM_CALLED_AE_ALIASES) or "(none)",
         "other called AE titles accepted"],
        ["`BROKER_DICOM_ACCEPT_ANY_CALLED_AE`", str(settings.BROKER_DICOM_ACCEPT_ANY_CALLED_AE).lower(),
         "accept any called AE title"],
        ["`BROKER_REQUIRE_KNOWN_AE`", str(settings.BROKER_REQUIRE_KNOWN_AE).lower(),
         "reject calling AE titles not in the registry"],
        ["`BROKER_STORAGE_ACCEPT_UNKNOWN`", str(settings.BROKER_STORAGE_ACCEPT_UNKNOWN).lower(),
         "accept storage SOP classes not listed"],
        ["`BROKER_UID_ROOT`", settings.BROKER_UID_ROOT, "root of the UIDs the broker makes and of its "
         "Implementation Class UID"],
        ["`BROKER_TIME_ZONE`", settings.BROKER_TIME_ZONE, "the department's time zone for DICOM and HL7 local "
         "times"],
    ]
    return Section("Configuration", sections=[
        Section("AE Title/Presentation Address Mapping", [
            Paragraph(f"Local: `{settings.BROKER_AE_TITLE}` on the ports of Network Interfaces. Remote: the "
                      "remote AE registry (admin, Remote AEs) holds each modality's AE title, optional host "
                      "binding, allowed services, character set, worklist scope and the address storage "
                      "commitment reports go to (and its TLS); routing and MPPS destinations and IAN "
                      "subscribers hold their AE title, host and port (and TLS)."),
        ]),
        Section("Parameters", [
            Paragraph("Every parameter is an environment variable (README.md lists them all); those that "
                      "shape this statement are listed where they apply, and these here:"),
            Table(["Setting", "Value", "Meaning"], rows),
        ]),
    ])


def networking() -> Section:
    return Section("Networking", sections=[implementation_model(), ae_specification(), network_interfaces(),
                                           configuration()])
