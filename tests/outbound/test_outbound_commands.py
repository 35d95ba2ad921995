"""manage.py mppsdestinations and risendpoints: scripting the outbound peers, checked as the admin form checks them."""
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from pydicom.uid import generate_uid

from broker.outbound import services
from broker.outbound.models import MppsDestination, RisEndpoint
from mpps.models import PerformedProcedureStep
from tests.dashboard.support import make_user

pytestmark = pytest.mark.django_db


def run(command: str, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def add_dose(*extra) -> str:
    return run("mppsdestinations", "add", "DOSE", "--ae", "DOSEMON", "--host", "127.0.0.1", "--port", "11114", *extra)


def test_it_adds_and_lists_an_mpps_destination():
    assert add_dose("--description", "dose registry") == "added MPPS destination DOSE\n"

    destination = MppsDestination.objects.get()
    assert (destination.ae_title, destination.host, destination.port, destination.enabled, destination.description) == (
        "DOSEMON", "127.0.0.1", 11114, True, "dose registry")
    assert run("mppsdestinations", "list") == "DOSE\tDOSEMON@127.0.0.1:11114\n"


def test_it_lists_and_shows_mpps_destinations_as_json_for_scripts():
    add_dose("--disabled")

    (listed,) = json.loads(run("mppsdestinations", "list", "--json"))
    shown = json.loads(run("mppsdestinations", "show", "DOSE", "--json"))

    assert listed == shown
    assert (shown["name"], shown["ae_title"], shown["port"], shown["enabled"], shown["use_tls"]) == (
        "DOSE", "DOSEMON", 11114, False, False)
    assert run("mppsdestinations", "list") == "DOSE\tDOSEMON@127.0.0.1:11114\tdisabled\n"


def test_it_shows_one_field_a_line():
    add_dose()
    lines = dict(line.split("\t", 1) for line in run("mppsdestinations", "show", "DOSE").splitlines())
    assert (lines["ae_title"], lines["host"], lines["port"], lines["enabled"], lines["tls_ca_file"]) == (
        "DOSEMON", "127.0.0.1", "11114", "true", "")


@pytest.mark.parametrize("args, message", [
    (("--ae", "DOSEMON", "--host", "127.0.0.1", "--port", "70000"), "--port: port 70000 is not between 1 and 65535"),
    (("--ae", "DOSEMON", "--host", "127.0.0.1", "--port", "0"), "--port: port 0 is not between 1 and 65535"),
    (("--ae", "A" * 17, "--host", "127.0.0.1", "--port", "104"), "--ae: an AE title has 1 to 16 characters .* has 17"),
    (("--ae", "   ", "--host", "127.0.0.1", "--port", "104"), "--ae: This field is required"),
    (("--ae", "DOSE\\MON", "--host", "127.0.0.1", "--port", "104"), "--ae: an AE title has printable ASCII"),
    (("--ae", "DOSEMON", "--host", "", "--port", "104"), "--host: This field is required"),
    (("--ae", "DOSEMON", "--host", "h", "--port", "104", "--tls-ca-file", "ca.pem"), "--tls-ca-file without --tls"),
    (("--ae", "DOSEMON", "--host", "h", "--port", "104", "--tls", "--tls-ca-file", "/nonexistent/ca.pem"),
     "TLS: .*/nonexistent/ca.pem"),
])
def test_it_refuses_a_bad_mpps_destination_saying_which_option(args, message):
    with pytest.raises(CommandError, match=message):
        run("mppsdestinations", "add", "DOSE", *args)
    assert not MppsDestination.objects.exists()


def test_it_refuses_a_second_mpps_destination_of_the_same_name():
    add_dose()
    with pytest.raises(CommandError, match="NAME: MPPS destination with this Name already exists"):
        add_dose()


def test_it_disables_enables_and_removes_an_mpps_destination():
    add_dose()
    assert run("mppsdestinations", "disable", "DOSE") == "disabled MPPS destination DOSE\n"
    assert not MppsDestination.objects.get().enabled
    assert run("mppsdestinations", "enable", "DOSE") == "enabled MPPS destination DOSE\n"
    assert run("mppsdestinations", "remove", "DOSE") == "removed MPPS destination DOSE\n"
    assert not MppsDestination.objects.exists()
    with pytest.raises(CommandError, match="no MPPS destination named DOSE"):
        run("mppsdestinations", "show", "DOSE")


def test_it_keeps_an_mpps_destination_that_has_forwards():
    add_dose()
    step = PerformedProcedureStep.objects.create(sop_instance_uid=generate_uid(), calling_ae="CT01")
    services.queue_forwards(step, "N-CREATE", {"00400252": {"vr": "CS", "Value": ["IN PROGRESS"]}})

    with pytest.raises(CommandError, match="MPPS destination DOSE has MPPS forwards; disable it instead"):
        run("mppsdestinations", "remove", "DOSE")
    assert MppsDestination.objects.exists()


def test_it_adds_and_lists_a_ris_endpoint():
    assert run("risendpoints", "add", "RIS", "--host", "127.0.0.1", "--port", "2576", "--format", "omi",
               "--receiving-application", "RIS", "--receiving-facility", "HOSP", "--timeout", "5",
               "--match-sending-application", "ORDERS") == "added RIS endpoint RIS\n"

    endpoint = RisEndpoint.objects.get()
    assert (endpoint.host, endpoint.port, endpoint.message_format, endpoint.receiving_application,
            endpoint.receiving_facility, endpoint.timeout_seconds, endpoint.match_sending_application) == (
        "127.0.0.1", 2576, "OMI", "RIS", "HOSP", 5.0, "ORDERS")
    assert run("risendpoints", "list") == "RIS\t127.0.0.1:2576\tOMI\n"
    assert json.loads(run("risendpoints", "show", "RIS", "--json"))["message_format"] == "OMI"


@pytest.mark.parametrize("args, message", [
    (("--port", "65536"), "--port: port 65536 is not between 1 and 65535"),
    (("--port", "2576", "--format", "HL7"), "--format: Select a valid choice. HL7 is not one of the available choices"),
    (("--port", "2576", "--timeout", "0"), "--timeout: a timeout of 0 s cannot be waited for"),
])
def test_it_refuses_a_bad_ris_endpoint_saying_which_option(args, message):
    with pytest.raises(CommandError, match=message):
        run("risendpoints", "add", "RIS", "--host", "127.0.0.1", *args)
    assert not RisEndpoint.objects.exists()


def test_it_disables_and_removes_a_ris_endpoint():
    run("risendpoints", "add", "RIS", "--host", "127.0.0.1", "--port", "2576")
    assert run("risendpoints", "disable", "RIS") == "disabled RIS endpoint RIS\n"
    assert run("risendpoints", "list") == "RIS\t127.0.0.1:2576\tAUTO\tdisabled\n"
    assert run("risendpoints", "remove", "RIS") == "removed RIS endpoint RIS\n"
    assert not RisEndpoint.objects.exists()


def test_it_refuses_in_the_admin_what_the_command_refuses(client):
    client.force_login(make_user("administrator"))
    url = reverse("admin:outbound_mppsdestination_add")

    page = client.post(url, {"name": "DOSE", "ae_title": "DOSE\\MON", "host": "127.0.0.1", "port": "70000",
                             "enabled": "on", "description": ""})

    assert page.status_code == 200  # the form again, with the errors
    text = page.content.decode()
    assert "port 70000 is not between 1 and 65535" in text
    assert "an AE title has printable ASCII characters only, without a backslash" in text
    assert not MppsDestination.objects.exists()
