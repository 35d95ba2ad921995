"""The generated DICOM Conformance Statement says what the broker does: the SOP classes and transfer syntaxes it
lists are exactly those the real listener accepts, its MWL keys are the matcher's, its settings are the ones in
force, and both renderings are valid documents."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.pdu_primitives import AsynchronousOperationsWindowNegotiation
from pynetdicom.sop_class import (
    BasicGrayscalePrintManagementMeta,
    ModalityPerformedProcedureStep,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from broker.conformance.statement import build
from broker.core.dicom_roles import ScuRole
from broker.core.tls import client_context
from broker.dicom import listener as dicom_listener
from broker.dicom import roles
from broker.outbound import forwarding, services
from broker.outbound.models import MppsDestination
from mpps.models import PerformedProcedureStep
from tests.dicom.conformance_support import (
    listed_scp_contexts,
    markdown,
    section,
    table_after,
    transfer_syntax_lists,
    uid,
    unknown_storage_row,
)
from tests.services import free_port
from worklist.mwl.keys import MATCHING_TYPES, SPS_KEYS, TOP_KEYS

MAX_CONTEXTS = 128
NOT_A_TRANSFER_SYNTAX = "1.2.826.0.1.3680043.10.1455.99.1"  # a valid UID no one defines as a transfer syntax
PRIVATE_STORAGE = "1.2.840.113619.4.3"  # GE private CT storage
UNLISTED_SERVICES = (StudyRootQueryRetrieveInformationModelFind, PatientRootQueryRetrieveInformationModelMove,
                     BasicGrayscalePrintManagementMeta)
PS32_SECTIONS = ["Overview", "Table of Contents", "1 Introduction", "2 Networking", "3 Media Interchange",
                 "4 Support of Character Sets", "5 Security", "6 Annexes"]
REPO = Path(django_settings.BASE_DIR)
REGENERATE = ("make conformance-doc (that is: env -i PATH=\"$PATH\" .venv/bin/python manage.py conformance-statement "
              "--output docs/conformance.md)")


@pytest.fixture
def listen(transactional_db, storage_dir, memory_celery):
    """Start the broker's real listener with the settings as the test left them; yields the port."""
    servers = []

    def start() -> int:
        servers.append(dicom_listener.start("127.0.0.1", 0))
        return servers[-1].server_address[1]

    yield start
    for server in servers:
        server.shutdown()


def negotiate(port: int, pairs) -> set[tuple[str, str]]:
    """Propose each (SOP class, transfer syntax) as a context of its own, 128 to an association; the pairs the
    listener accepted."""
    pairs = sorted(pairs)
    accepted = set()
    for start in range(0, len(pairs), MAX_CONTEXTS):
        ae = AE(ae_title="CONFORMANCE")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        for sop_class, syntax in pairs[start:start + MAX_CONTEXTS]:
            ae.add_requested_context(sop_class, syntax)
        assoc = ae.associate("127.0.0.1", port, ae_title=django_settings.BROKER_AE_TITLE)
        answer = assoc.acceptor.primitive
        # Every association is accepted; one with no context accepted is then aborted by pynetdicom.
        assert answer is not None and answer.result == 0x00, f"association {start // MAX_CONTEXTS} not accepted"
        if assoc.is_established:
            accepted |= {(str(cx.abstract_syntax), str(cx.transfer_syntax[0])) for cx in assoc.accepted_contexts}
            assoc.release()
    return accepted


def every_syntax() -> set[str]:
    return {str(ts) for ts in ALL_TRANSFER_SYNTAXES} | {NOT_A_TRANSFER_SYNTAX}


@pytest.mark.slow
def test_it_accepts_exactly_the_sop_classes_and_transfer_syntaxes_it_lists(listen):
    port = listen()
    statement = markdown()
    listed = listed_scp_contexts(statement)
    classes = {sop_class for sop_class, _ in listed}
    assert {Verification, "1.2.840.10008.5.1.4.31", "1.2.840.10008.3.1.2.3.3", "1.2.840.10008.1.20.1",
            "1.2.840.10008.5.1.4.1.1.2"} <= classes  # echo, MWL, MPPS, commitment, CT
    proposed = {(sop_class, ts) for sop_class in classes | set(UNLISTED_SERVICES) for ts in every_syntax()}
    proposed |= listed

    accepted = negotiate(port, proposed)

    assert accepted == listed, (f"accepted, not listed: {sorted(accepted - listed)[:5]}; "
                                f"listed, not accepted: {sorted(listed - accepted)[:5]}")
    assert not {pair for pair in accepted if pair[0] in UNLISTED_SERVICES}
    assert not {pair for pair in accepted if pair[1] == NOT_A_TRANSFER_SYNTAX}


def test_it_accepts_a_private_storage_class_in_the_syntaxes_of_its_row(listen, settings):
    settings.BROKER_STORAGE_ACCEPT_UNKNOWN = True
    port = listen()
    statement = markdown()
    row = unknown_storage_row(statement)
    assert row is not None
    listed = set(transfer_syntax_lists(statement)[row[3]])

    accepted = negotiate(port, {(PRIVATE_STORAGE, ts) for ts in every_syntax()})

    assert {ts for _, ts in accepted} == listed


def test_it_refuses_a_private_storage_class_and_says_so_when_unknown_classes_are_off(listen, settings):
    settings.BROKER_STORAGE_ACCEPT_UNKNOWN = False
    port = listen()
    statement = markdown()

    accepted = negotiate(port, {(PRIVATE_STORAGE, ts) for ts in every_syntax()} | {(Verification, "1.2.840.10008.1.2")})

    assert accepted == {(Verification, "1.2.840.10008.1.2")}
    assert unknown_storage_row(statement) is None
    assert "SOP classes not listed are refused (`BROKER_STORAGE_ACCEPT_UNKNOWN` off)" in statement


@pytest.mark.parametrize("max_pdu", [16384, 65536])
def test_it_states_the_maximum_pdu_the_listener_offers(listen, settings, max_pdu):
    settings.BROKER_DICOM_MAX_PDU = max_pdu
    port = listen()
    ae = AE(ae_title="CONFORMANCE")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=settings.BROKER_AE_TITLE)
    try:
        offered = assoc.acceptor.maximum_length
    finally:
        assoc.release()

    rows = table_after(markdown(), "Application Context Name: `1.2.840.10008.3.1.1.1` (DICOM Application Context Name).")

    assert offered == max_pdu
    assert ["Maximum PDU size received (listener)", f"{max_pdu} bytes", "`BROKER_DICOM_MAX_PDU`"] in rows


def test_it_states_the_association_limits_and_timeouts_in_force(settings):
    settings.BROKER_DICOM_MAX_ASSOCIATIONS = 7
    settings.BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE = 0
    settings.BROKER_DICOM_ACSE_TIMEOUT = 12.5
    statement = markdown()

    limits = section(statement, "Number of Associations")
    policy = section(statement, "Association Acceptance Policy")

    assert "| Simultaneous associations accepted (per listener process) | 7 |" in limits
    assert "| … from one calling AE title | no cap |" in limits
    assert "| 12.5 s | `BROKER_DICOM_ACSE_TIMEOUT` |" in policy


def test_it_names_the_broker_by_its_implementation_identity(settings):
    settings.BROKER_UID_ROOT = "1.2.826.0.1.3680043.10.1455"
    text = section(markdown(), "Implementation Identifying Information")

    assert "| Implementation Class UID | `1.2.826.0.1.3680043.10.1455.1.1.0.0` |" in text
    assert "| Implementation Version Name | `BROKER_1.0.0` |" in text


def test_it_describes_tls_only_when_configured(settings):
    settings.BROKER_DICOM_TLS_PORT = None
    plain = section(markdown(), "Security Profiles")
    settings.BROKER_DICOM_TLS_PORT = 2762
    settings.BROKER_TLS_CA = "/etc/broker/clients-ca.pem"
    settings.BROKER_DICOM_PLAIN = False
    with_tls = markdown()

    assert "DICOM over TLS is not configured" in plain
    assert "DICOM over TLS on port 2762" in section(with_tls, "Security Profiles")
    assert "mutual TLS" in section(with_tls, "Security Profiles")
    assert "the plain port is closed" in section(with_tls, "Security Profiles")
    interfaces = section(with_tls, "IPv4 and IPv6 Support")
    assert "| DICOM over TLS | 2762 | TLS 1.2 or later | `BROKER_DICOM_TLS_PORT` |" in interfaces
    assert "| DICOM | " not in interfaces


def test_it_states_the_tls_port_a_real_tls_listener_serves(transactional_db, storage_dir, memory_celery, settings, ca):
    broker_cert, broker_key = ca.issue("broker", subject_alt_name="DNS:localhost,IP:127.0.0.1")
    modality_cert, modality_key = ca.issue("modality", client=True)
    settings.BROKER_TLS_CERT, settings.BROKER_TLS_KEY = str(broker_cert), str(broker_key)
    settings.BROKER_TLS_CA = str(ca.certificate)
    settings.BROKER_DICOM_TLS_PORT = free_port()
    listeners = dicom_listener.start_listeners("127.0.0.1", 0)
    try:
        ae = AE(ae_title="CT01")
        ae.add_requested_context(Verification)
        context = client_context(str(ca.certificate), str(modality_cert), str(modality_key))
        assoc = ae.associate("127.0.0.1", settings.BROKER_DICOM_TLS_PORT, ae_title=settings.BROKER_AE_TITLE,
                             tls_args=(context, "localhost"))
        assert assoc.is_established
        try:
            assert assoc.send_c_echo().Status == 0x0000
            version = assoc.dul.socket.socket.version()
        finally:
            assoc.release()
    finally:
        listeners.shutdown()

    statement = markdown()
    assert version in ("TLSv1.2", "TLSv1.3")
    assert (f"| DICOM over TLS | {settings.BROKER_DICOM_TLS_PORT} | TLS 1.2 or later | `BROKER_DICOM_TLS_PORT` |"
            in section(statement, "IPv4 and IPv6 Support"))
    assert (f"DICOM over TLS on port {settings.BROKER_DICOM_TLS_PORT} (PS3.15 Annex B, Basic TLS Secure Transport "
            "Connection Profile, TLS 1.2 or later): clients must present a certificate signed by `BROKER_TLS_CA` "
            "(mutual TLS); the plain port is open too.") in section(statement, "Security Profiles")


def test_its_mwl_key_table_is_the_matchers_table():
    rows = table_after(markdown(), "| Attribute | Tag | Keyword | Matching (PS3.4 C.2.2.2) | Return key |")
    stated = {uid_or_keyword(row[2]): row[3] for row in rows}
    expected = {keyword: MATCHING_TYPES[key.match] or "return key only"
                for keyword, key in {**TOP_KEYS, **SPS_KEYS}.items()}
    expected["ScheduledProcedureStepSequence"] = "Sequence Matching of one item"

    assert {keyword: markdown_unescaped(text) for keyword, text in stated.items()} == expected
    assert {key.match for key in {**TOP_KEYS, **SPS_KEYS}.values()} <= set(MATCHING_TYPES)


def uid_or_keyword(cell: str) -> str:
    return uid(cell) or cell.strip("`")


def markdown_unescaped(text: str) -> str:
    return text.replace("\\_", "_").replace("\\>", ">").replace("\\|", "|")


def test_a_new_scu_role_appears_without_a_change_to_the_statement(monkeypatch):
    ian = ScuRole(name="Instance Availability Notification SCU", purpose="Tells subscribers a study is available.",
                  sop_classes=("1.2.840.10008.5.1.4.33",), transfer_syntaxes=("1.2.840.10008.1.2",),
                  timeout_setting="BROKER_OUTBOUND_DICOM_TIMEOUT", peers="IAN subscribers")
    monkeypatch.setattr(roles, "SCU_ROLES", (*roles.SCU_ROLES, ian))

    statement = markdown()

    scu_rows = table_after(statement, "As SCU (association requestor):")
    assert scu_rows[-1][:3] == ["Instance Availability Notification SOP Class", "`1.2.840.10008.5.1.4.33`", "SCU"]
    assert scu_rows[-1][4] == "Instance Availability Notification SCU"
    assert transfer_syntax_lists(statement)[scu_rows[-1][3]] == ["1.2.840.10008.1.2"]
    assert "Tells subscribers a study is available." in section(statement, "Instance Availability Notification SCU")


def test_its_scu_table_lists_what_each_role_proposes():
    rows = table_after(markdown(), "As SCU (association requestor):")
    syntaxes = transfer_syntax_lists(markdown())
    stated = {(uid(row[1]), row[4]): syntaxes[row[3].split(";")[0]] for row in rows if uid(row[1])}

    for role in roles.SCU_ROLES:
        ae = AE()
        role.request_on(ae)
        proposed = {(str(cx.abstract_syntax), role.name): [str(ts) for ts in cx.transfer_syntax]
                    for cx in ae.requested_contexts}
        assert proposed == {key: value for key, value in stated.items() if key[1] == role.name}


def test_an_scu_proposes_on_a_real_association_what_the_statement_lists(db):
    """The MPPS forwarder, through its own code path, to a peer that records the proposal."""
    proposals, maximum_pdu = [], []

    def record(event):
        maximum_pdu.append(event.assoc.requestor.maximum_length)
        proposals.extend((str(cx.abstract_syntax), [str(ts) for ts in cx.transfer_syntax])
                         for cx in event.assoc.requestor.primitive.presentation_context_definition_list)

    peer = AE(ae_title="PEER")
    peer.add_supported_context(ModalityPerformedProcedureStep)
    server = peer.start_server(("127.0.0.1", 0), block=False, evt_handlers=[
        (evt.EVT_REQUESTED, record), (evt.EVT_N_CREATE, lambda event: (0x0000, event.attribute_list))])
    try:
        MppsDestination.objects.create(name="DOSE", ae_title="PEER", host="127.0.0.1", port=server.server_address[1])
        step = PerformedProcedureStep.objects.create(sop_instance_uid=generate_uid(), calling_ae="CT01")
        attributes = Dataset()
        attributes.PerformedProcedureStepStatus = "IN PROGRESS"
        forward, = services.queue_forwards(step, "N-CREATE", attributes.to_json_dict())
        assert forwarding.deliver(forward.pk).sent
    finally:
        server.shutdown()

    statement = markdown()
    row = next(row for row in table_after(statement, "As SCU (association requestor):")
               if row[4] == forwarding.MPPS_FORWARD_SCU.name)
    assert proposals == [(uid(row[1]), transfer_syntax_lists(statement)[row[3]])]
    assert (f"| Maximum PDU size received | {maximum_pdu[0]} bytes |"
            in section(statement, forwarding.MPPS_FORWARD_SCU.name))


def test_it_leaves_an_asynchronous_operations_window_unanswered_as_it_states(port):
    window = AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = window.maximum_number_operations_performed = 5
    ae = AE(ae_title="CONFORMANCE")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=django_settings.BROKER_AE_TITLE, ext_neg=[window])
    try:
        answered = [item for item in assoc.acceptor.primitive.user_information
                    if isinstance(item, AsynchronousOperationsWindowNegotiation)]
    finally:
        assoc.release()

    assert answered == []
    assert "An Asynchronous Operations Window proposal is not answered" in section(markdown(), "Asynchronous Nature")


class Tables(HTMLParser):
    """The cell texts of every table in an HTML document, and every id and #link."""

    def __init__(self):
        super().__init__()
        self.tables, self.ids, self.links, self._cell = [], set(), [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.append(attrs["href"][1:])
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def read_tables(html_text: str) -> Tables:
    parser = Tables()
    parser.feed(html_text)
    return parser


def test_the_command_writes_markdown_and_html_that_say_the_same(tmp_path):
    markdown_it = pytest.importorskip("markdown_it")
    call_command("conformance-statement", "--output", str(tmp_path / "statement.md"))
    call_command("conformance-statement", "--format", "html", "--output", str(tmp_path / "statement.html"))
    written_md = (tmp_path / "statement.md").read_text(encoding="utf-8")
    written_html = (tmp_path / "statement.html").read_text(encoding="utf-8")

    root = ElementTree.fromstring(written_html)  # well-formed: a strict XML parser reads it
    headings = [h.text for h in root.iter() if h.tag == "h2"]
    html_tables = read_tables(written_html)
    from_markdown = read_tables(markdown_it.MarkdownIt("commonmark").enable("table").render(written_md))

    assert root.tag == "html" and root.find("head/title").text == build().title
    assert headings == PS32_SECTIONS
    assert not set(html_tables.links) - html_tables.ids  # every table-of-contents link has its heading
    assert len(from_markdown.tables) == len(html_tables.tables) > 10
    assert from_markdown.tables == html_tables.tables  # Markdown tables parse to the same cells
    assert from_markdown.links == html_tables.links


def test_the_command_writes_to_stdout_by_default():
    out = StringIO()
    call_command("conformance-statement", stdout=out)

    assert out.getvalue() == markdown()
    assert out.getvalue().startswith("# DICOM Conformance Statement")


def test_the_command_names_the_file_it_cannot_write(tmp_path):
    target = tmp_path / "missing-folder" / "statement.md"
    with pytest.raises(CommandError, match=f"cannot write {target}: No such file or directory"):
        call_command("conformance-statement", "--output", str(target))


def test_docs_conformance_md_is_the_statement_of_the_default_configuration(tmp_path):
    """docs/conformance.md must be regenerated whenever a table or a default it is built from changes."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}  # no BROKER_* or DATABASE_URL
    result = subprocess.run([sys.executable, str(REPO / "manage.py"), "conformance-statement"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

    checked_in = (REPO / "docs" / "conformance.md").read_text(encoding="utf-8")
    assert result.stdout == checked_in, f"docs/conformance.md is out of date; regenerate it with: {REGENERATE}"
