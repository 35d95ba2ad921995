"""Cached C-FIND-RSP command sets put the same PDVs on the wire as pynetdicom's own message, in fewer PDUs."""
from io import BytesIO

import pytest
from pydicom import Dataset
from pynetdicom import dimse, service_class
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode

from broker.core.dicom_net import find_response
from broker.core.dicom_net.find_response import EncodedResponse, FindResponseMessage, encode_identifier

MWL = "1.2.840.10008.5.1.4.31"


def response(status: int, identifier: bytes | None = None, message_id: int = 7, **fields) -> C_FIND:
    primitive = C_FIND()
    primitive.MessageIDBeingRespondedTo = message_id
    primitive.AffectedSOPClassUID = MWL
    primitive.Status = status
    primitive.Identifier = BytesIO(identifier) if identifier is not None else None
    for name, value in fields.items():
        setattr(primitive, name, value)
    return primitive


def wire(message_class, primitive: C_FIND, max_pdu: int) -> list:
    message = message_class()
    message.primitive_to_message(primitive)
    return [pdata.presentation_data_value_list for pdata in message.encode_msg(3, max_pdu)]


def pdvs(pdus: list) -> list:
    return [pdv for pdu in pdus for pdv in pdu]


def pdu_length(pdu: list) -> int:
    return sum(4 + 1 + len(value) for _, value in pdu)  # PDV item: length, context ID, header + fragment


RESPONSES = {
    "pending with identifier": lambda: response(0xFF00, b"\x10\x00\x10\x00\x04\x00\x00\x00DOE "),
    "pending, other message id": lambda: response(0xFF01, b"\x10\x00\x20\x00\x02\x00\x00\x00P1", message_id=9),
    "success": lambda: response(0x0000),
    "cancel": lambda: response(0xFE00),
    "failure with comment and offending element": lambda: response(
        0xA900, ErrorComment="bad date in ScheduledProcedureStepStartDate", OffendingElement=[0x00400002]),
    "large identifier": lambda: response(0xFF00, b"\x10\x00\x10\x00\xf8\x0f\x00\x00" + b"A" * 4088),
}


@pytest.mark.parametrize("max_pdu", [0, 16384, 64], ids=["unlimited", "16k", "tiny PDUs"])
@pytest.mark.parametrize("make", RESPONSES.values(), ids=RESPONSES.keys())
def test_it_sends_what_pynetdicom_sends(make, max_pdu):
    for _ in range(2):  # the second time from the cache
        ours = wire(FindResponseMessage, make(), max_pdu)
        assert pdvs(ours) == pdvs(wire(C_FIND_RSP, make(), max_pdu))
        assert not max_pdu or all(pdu_length(pdu) <= max_pdu for pdu in ours)


def test_it_sends_a_command_and_its_identifier_in_one_pdu_when_they_fit():
    pending = RESPONSES["pending with identifier"]
    assert len(wire(FindResponseMessage, pending(), 16384)) == 1
    assert len(wire(C_FIND_RSP, pending(), 16384)) == 2
    assert len(wire(FindResponseMessage, RESPONSES["large identifier"](), 4096)) == 3
    assert len(wire(FindResponseMessage, RESPONSES["success"](), 16384)) == 1


def test_it_sends_an_identifier_encoded_by_the_worklist_as_it_is():
    response = EncodedResponse()
    response.PatientName = "DOE"
    object.__setattr__(response, "encoded", b"pre-encoded")
    object.__setattr__(response, "encoded_as", (True, True))
    assert encode_identifier(response, True, True) == b"pre-encoded"
    assert encode_identifier(response, False, True) == encode(response, False, True)  # other transfer syntax
    assert encode_identifier(response, True, True, True) == encode(response, True, True, True)  # deflated
    plain = Dataset()
    plain.PatientName = "DOE"
    assert encode_identifier(plain, True, True) == encode(plain, True, True)


def test_it_still_offers_the_command_set_to_event_handlers():
    message = FindResponseMessage()
    message.primitive_to_message(response(0xFF00, b"\x10\x00\x10\x00\x04\x00\x00\x00DOE "))
    assert message.command_set.Status == 0xFF00
    assert message.command_set.MessageIDBeingRespondedTo == 7
    assert message.command_set.CommandDataSetType == 0x0001


def test_it_is_installed_for_c_find_responses_only():
    assert find_response.install_find_response_shortcut()
    assert dimse._RSP_TO_MESSAGE[C_FIND] is FindResponseMessage
    assert service_class.encode is encode_identifier
    assert all(cls is not FindResponseMessage for cls in dimse._RQ_TO_MESSAGE.values())
