"""manage.py destinations: scripting destinations and rules."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from broker.routing.models import Destination, RoutingRule


def run(*args) -> str:
    out = StringIO()
    call_command("destinations", *args, stdout=out)
    return out.getvalue()


def test_it_adds_and_lists_a_destination(db):
    assert run("add", "PACS", "--ae", "PACS", "--host", "127.0.0.1", "--port", "104", "--max-associations", "2") == "added destination PACS\n"
    destination = Destination.objects.get()
    assert (destination.ae_title, destination.host, destination.port, destination.max_associations, destination.enabled) == (
        "PACS", "127.0.0.1", 104, 2, True)
    assert run("list") == "PACS\tPACS@127.0.0.1:104\tmax 2\n"


def test_it_refuses_a_bad_port(db):
    with pytest.raises(CommandError, match="port 70000 is not between 1 and 65535"):
        run("add", "PACS", "--ae", "PACS", "--host", "127.0.0.1", "--port", "70000")


def test_it_refuses_a_long_ae_title_as_the_admin_does(db):
    with pytest.raises(CommandError, match="--ae: an AE title has 1 to 16 characters .* has 17"):
        run("add", "PACS", "--ae", "PACS_ARCHIVE_MAIN", "--host", "127.0.0.1", "--port", "104")


def test_it_adds_a_rule_with_matches_and_attribute_changes(db):
    run("add", "PACS", "--ae", "PACS", "--host", "127.0.0.1", "--port", "104")
    run("add", "AI", "--ae", "AI", "--host", "127.0.0.1", "--port", "105")

    run("rule", "add", "ct", "--to", "PACS", "--to", "AI", "--modality", "CT", "--description-regex", "head",
        "--set", "InstitutionName=City Hospital", "--set", "IssuerOfPatientID=")

    rule = RoutingRule.objects.get()
    assert sorted(d.name for d in rule.destinations.all()) == ["AI", "PACS"]
    assert (rule.match_modality, rule.match_study_description, rule.action) == ("CT", "head", "SEND")
    assert rule.attribute_changes == {"InstitutionName": "City Hospital", "IssuerOfPatientID": None}
    assert "ct\tSEND to " in run("rule", "list")


@pytest.mark.parametrize("args, message", [
    (("--to", "NOWHERE"), "no destination named NOWHERE"),
    (("--to", "PACS", "--action", "MOVE"), "a MOVE rule needs --move-source"),
    (("--to", "PACS", "--description-regex", "(x"), "--description-regex"),
    (("--to", "PACS", "--set", "Nonsense=1"), "not a DICOM keyword"),
    (("--to", "PACS", "--set", "InstitutionName"), "write KEYWORD=VALUE"),
    (("--to", "PACS", "--modality", "C/T"), "--modality: a modality is a DICOM code string"),
    (("--to", "PACS", "--calling-ae", "CT01,CTÖ2"), "--calling-ae: an AE title has printable ASCII"),
    (("--to", "PACS", "--description-regex", "[a-"), "--description-regex: not a regular expression"),
])
def test_it_refuses_a_bad_rule(db, args, message):
    run("add", "PACS", "--ae", "PACS", "--host", "127.0.0.1", "--port", "104")
    with pytest.raises(CommandError, match=message):
        run("rule", "add", "bad", *args)
    assert RoutingRule.objects.count() == 0


def test_it_removes_rules_and_destinations(db):
    run("add", "PACS", "--ae", "PACS", "--host", "127.0.0.1", "--port", "104")
    run("rule", "add", "all", "--to", "PACS")
    assert run("rule", "remove", "all") == "removed rule all\n"
    assert run("remove", "PACS") == "removed destination PACS\n"
    assert Destination.objects.count() == 0 and RoutingRule.objects.count() == 0
    with pytest.raises(CommandError, match="no destination named PACS"):
        run("remove", "PACS")


def test_it_disables_a_destination(db):
    run("add", "PACS", "--ae", "PACS", "--host", "127.0.0.1", "--port", "104")
    run("disable", "PACS")
    assert Destination.objects.get().enabled is False
    assert run("list").endswith("disabled\n")




def test_it_adds_a_tls_destination_with_its_files_made_absolute(db, ca, tmp_path, monkeypatch):
    cert, key = ca.issue("broker", client=True)
    monkeypatch.chdir(tmp_path)

    run("add", "PACS", "--ae", "PACS", "--host", "pacs.example.org", "--port", "2762", "--tls",
        "--tls-ca-file", f"ca/{ca.certificate.name}", "--tls-cert-file", str(cert), "--tls-key-file", f"ca/{key.name}")

    destination = Destination.objects.get()
    assert (destination.use_tls, destination.tls_ca_file, destination.tls_cert_file, destination.tls_key_file) == (
        True, str(ca.certificate), str(cert), str(key))
    assert run("list") == "PACS\tPACS@pacs.example.org:2762\tmax 1 tls\n"


@pytest.mark.parametrize("args, message", [
    (("--tls", "--tls-ca-file", "/nonexistent/ca.pem"), "TLS: tls_ca_file /nonexistent/ca.pem: No such file or directory"),
    (("--tls", "--tls-key-file", "{key}"), "TLS: tls_key_file is set without tls_cert_file"),
    (("--tls", "--tls-cert-file", "{cert}", "--tls-key-file", "{ca_key}"),
     "TLS: the key in tls_key_file does not belong to the certificate in tls_cert_file"),
    (("--tls-ca-file", "{ca}"), "--tls-ca-file without --tls: add --tls to connect with TLS"),
])
def test_it_refuses_tls_files_the_sender_could_not_use(db, ca, args, message):
    cert, key = ca.issue("broker", client=True)
    files = {"cert": cert, "key": key, "ca": ca.certificate, "ca_key": ca.key}
    with pytest.raises(CommandError, match=message):
        run("add", "PACS", "--ae", "PACS", "--host", "127.0.0.1", "--port", "2762", *(a.format(**files) for a in args))
    assert Destination.objects.count() == 0
