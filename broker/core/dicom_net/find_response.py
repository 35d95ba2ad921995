"""C-FIND-RSP messages whose Command Set is encoded once, not once per pending response.

For every response pynetdicom builds a fresh DIMSE message: a pydicom Dataset of seven command
elements, filled and validated element by element, then encoded twice (once to learn the group
length, once to send). That is most of the ~1 ms pynetdicom spends per worklist match. The pending
responses of one query differ only in their identifier, so the encoded Command Set is cached by the
values it carries (SOP class, message ID, status, error fields, whether an identifier follows) and
the fragments are exactly the ones pynetdicom's own message would produce: on a miss the cache is
filled by pynetdicom's own C_FIND_RSP.

Where the Command Set and the identifier each fit in one fragment and together in one PDU, they
travel in one P-DATA-TF with two PDVs (PS3.8 9.3.5 allows a list) instead of one PDU each: half the
PDUs through pynetdicom's state machine, half the writes, half the reads for the modality.

Identifiers already encoded (`EncodedResponse`, made by broker.dicom.mwl_answers) are sent as they
are, not written out again by pydicom.

`install_find_response_shortcut()` registers the class in pynetdicom's response-message table and the
identifier shortcut in its service classes, on a tested pynetdicom only (`version.TESTED_VERSIONS`; any
other keeps pynetdicom's own code). `command_set` is still there for event handlers that read it (built
on first access).
"""
from io import BytesIO

from pydicom import Dataset
from pynetdicom import dimse, service_class
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode
from pynetdicom.pdu_primitives import P_DATA

from broker.core.dicom_net import version

_MAX_CACHED = 256
_encoded_commands: dict[tuple, bytes] = {}


class EncodedResponse(Dataset):
    """A response Dataset that also carries its own encoding: `encoded`, as `encoded_as` (implicit VR, little endian)."""

    encoded: bytes = b""
    encoded_as: tuple[bool, bool] = (True, True)


def _hashable(value):
    # pydicom hands back a list of tags as a MultiValue (not a list, not hashable).
    return value if value is None or isinstance(value, (str, int)) else tuple(value)


def _command_key(primitive: C_FIND) -> tuple:
    return (primitive.AffectedSOPClassUID, primitive.MessageIDBeingRespondedTo, primitive.Status,
            _hashable(primitive.OffendingElement), _hashable(primitive.ErrorComment), primitive.Identifier is not None)


def encoded_command(primitive: C_FIND) -> bytes:
    """The Command Set of the response to `primitive`, Implicit VR Little Endian (PS3.7 6.3.1)."""
    key = _command_key(primitive)
    data = _encoded_commands.get(key)
    if data is None:
        message = C_FIND_RSP()
        message.primitive_to_message(primitive)
        data = encode(message.command_set, True, True)
        if len(_encoded_commands) >= _MAX_CACHED:
            _encoded_commands.clear()
        _encoded_commands[key] = data
    return data


class FindResponseMessage(C_FIND_RSP):
    """A C-FIND-RSP that sends a cached Command Set (see the module docstring)."""

    def __init__(self) -> None:
        # Not calling C_FIND_RSP.__init__: building its placeholder Command Set is the cost avoided.
        self.context_id: int | None = None
        self.encoded_command_set = BytesIO()
        self.data_set: BytesIO | None = BytesIO()
        self._data_set_path = None
        self._data_set_file = None
        self._primitive: C_FIND | None = None
        self._command: bytes = b""
        self._command_set: Dataset | None = None

    @property
    def command_set(self) -> Dataset:
        if self._command_set is None:
            message = C_FIND_RSP()
            if self._primitive is not None:
                message.primitive_to_message(self._primitive)
            self._command_set = message.command_set
        return self._command_set

    @command_set.setter
    def command_set(self, value: Dataset) -> None:
        self._command_set = value

    def primitive_to_message(self, primitive: C_FIND) -> None:
        self._primitive = primitive
        self._command_set = None
        self.data_set = primitive.Identifier
        self._command = encoded_command(primitive)

    def encode_msg(self, context_id: int, max_pdu_length: int):
        """P-DATA primitives: the command fragments, then the data set ones, both in one when they fit."""
        self.context_id = context_id
        encoded = self.data_set.getvalue() if self.data_set is not None else b""
        # Each PDV item: 4 bytes of length, the context ID, the control header, then the fragment.
        if encoded and (not max_pdu_length or len(self._command) + len(encoded) + 12 <= max_pdu_length):
            pdata = P_DATA()
            pdata.presentation_data_value_list.append((context_id, b"\x03" + self._command))
            pdata.presentation_data_value_list.append((context_id, b"\x02" + encoded))
            yield pdata
            return
        yield from self._fragments(context_id, self._command, b"\x01", b"\x03", max_pdu_length)
        if encoded:
            yield from self._fragments(context_id, encoded, b"\x00", b"\x02", max_pdu_length)

    def _fragments(self, context_id: int, data: bytes, more: bytes, last: bytes, max_pdu_length: int):
        fragments = list(self._generate_pdv_fragments(data, max_pdu_length))
        for number, fragment in enumerate(fragments, start=1):
            pdata = P_DATA()
            pdata.presentation_data_value_list.append((context_id, (last if number == len(fragments) else more) + fragment))
            yield pdata


_pydicom_encode = service_class.encode


def encode_identifier(ds, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False) -> bytes | None:
    """pynetdicom's dsutils.encode, except that an identifier already encoded that way is taken as it is."""
    if type(ds) is EncodedResponse and not deflated and ds.encoded_as == (is_implicit_vr, is_little_endian):
        return ds.encoded
    return _pydicom_encode(ds, is_implicit_vr, is_little_endian, deflated)


def install_find_response_shortcut() -> bool:
    """Use FindResponseMessage for C-FIND responses and send pre-encoded identifiers as they are;
    False (nothing changed) on an untested pynetdicom. Safe to call again."""
    if not version.is_tested():
        return False
    dimse._RSP_TO_MESSAGE[C_FIND] = FindResponseMessage
    service_class.encode = encode_identifier
    return True
