"""The worklist's answers in wire bytes: step → C-FIND response already encoded.

The same answer as `worklist.mwl.response.build_response`, built cheaply.

Building a pydicom Dataset per matching step and letting pydicom encode it costs ~1.5 ms per response
(element construction, value validation, charset lookups, the writer's per-element buffers). Here the
identifier is compiled once per query into slots (tag, VR, where the value comes from), and each step
is encoded straight to bytes. ASCII text (nearly every value) is encoded directly; anything else —
non-ASCII text in the response's character set, numbers, unusual VRs — goes through pydicom's own
element writer, so the bytes are always the ones pydicom would write.

The result is an `EncodedResponse`: a Dataset of RawDataElements carrying the original encoding of the
transfer syntax, which pydicom's `write_dataset` copies out as they are, and the whole encoded
identifier in `encoded`, for a sender that can take the bytes directly (broker.core.dicom_net.find_response).
The mapping itself (which value answers which key) stays in worklist.mwl.response; this is the DICOM edge.
"""
import struct
from operator import itemgetter

from pydicom import Dataset
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from broker.core.dicom_net.find_response import EncodedResponse
from worklist.mwl import iso2022
from worklist.mwl.keys import SPS_KEYS, TOP_KEYS
from worklist.mwl.response import NOT_RETURNED, first_item, fitted_text

# Explicit VR: these VRs have 2 reserved bytes and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT"})
# Text VRs whose ASCII values are written as the plain bytes, padded to even length.
_ASCII_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI",
                             "UR", "UT"})
# Text VRs whose repertoire Specific Character Set extends (PS3.5 6.1.2.2), written with code extensions.
_EXTENDED_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "PN", "UC", "UT"})
_ITEM = struct.Struct("<HHI")
_UL, _US = struct.Struct("<I"), struct.Struct("<H")
_tag_of = itemgetter(0)
_SPS_TAG = tag_for_keyword("ScheduledProcedureStepSequence")
_CHARSET_TAG = tag_for_keyword("SpecificCharacterSet")


class _Slot:
    """One requested attribute: where its value comes from and how it is encoded."""

    __slots__ = ("tag", "vr", "key", "wanted", "item")

    def __init__(self, tag: int, vr: str, key=None, wanted=None, item=None):
        self.tag, self.vr, self.key = tag, vr, key
        self.wanted = wanted  # code-sequence style keys: [(keyword, tag, VR)] asked inside the item, or None
        self.item = item  # the Scheduled Procedure Step Sequence: the slots of its one item


def _sub_keys(asked_elem) -> list | None:
    asked = first_item(asked_elem) if asked_elem is not None else None
    if asked is None:
        return None
    wanted = []
    for elem in asked:
        tag = tag_for_keyword(elem.keyword)
        if tag is not None:
            wanted.append((elem.keyword, tag, dictionary_VR(tag)))
    return wanted


def _item_slots(keys: dict, asked: Dataset | None) -> list[_Slot]:
    if asked is None:
        slots = []
        for keyword, key in keys.items():
            tag = tag_for_keyword(keyword)
            slots.append(_Slot(tag, dictionary_VR(tag), key))
        return slots
    slots = []
    for elem in asked:
        if elem.tag.element == 0 or elem.tag.is_private:
            continue
        key = keys.get(elem.keyword)
        slots.append(_Slot(int(elem.tag), elem.VR, key, _sub_keys(elem) if key is not None and elem.VR == "SQ" else None))
    return slots


def _top_slots(identifier: Dataset) -> list[_Slot]:
    slots = []
    for elem in identifier:
        if elem.tag.element == 0 or elem.tag.is_private or elem.keyword in NOT_RETURNED:
            continue
        if elem.tag == _SPS_TAG:
            slots.append(_Slot(_SPS_TAG, "SQ", item=_item_slots(SPS_KEYS, first_item(elem))))
            continue
        key = TOP_KEYS.get(elem.keyword)
        slots.append(_Slot(int(elem.tag), elem.VR, key, _sub_keys(elem) if key is not None and elem.VR == "SQ" else None))
    return slots


def _all_vrs(slots: list[_Slot]):
    for slot in slots:
        yield slot.vr
        if slot.item is not None:
            yield from _all_vrs(slot.item)


def encoder_for(identifier: Dataset, *, charsets: list[str], request_had_charset: bool,
                transfer_syntax) -> "ResponseEncoder | None":
    """The encoder for this query and transfer syntax, or None where `build_response` must do the work
    (Big Endian, or an explicit VR transfer syntax with an attribute whose VR is ambiguous)."""
    if not transfer_syntax.is_little_endian:
        return None
    encoder = ResponseEncoder(identifier, charsets=charsets, request_had_charset=request_had_charset,
                              implicit_vr=transfer_syntax.is_implicit_VR)
    if not encoder.implicit_vr and any(len(vr) != 2 for vr in _all_vrs(encoder.slots)):
        return None
    return encoder


class ResponseEncoder:
    """Compiled once per query; `response(step)` gives the encoded pending response for one step."""

    def __init__(self, identifier: Dataset, *, charsets: list[str], request_had_charset: bool = False,
                 implicit_vr: bool = True):
        self.charsets = charsets
        self.request_had_charset = request_had_charset
        self.implicit_vr = implicit_vr
        self.code_extensions = iso2022.is_iso2022(charsets)
        self.slots = _top_slots(identifier)
        charset_value = charsets if len(charsets) > 1 else charsets[0]
        self.charset_element = self._pydicom_element(_CHARSET_TAG, "CS", charset_value, None)
        # What pydicom's Dataset._character_set gives with and without (0008,0005) in the response.
        self._encodings = {True: convert_encodings(charset_value), False: default_encoding}
        self._prefixes: dict[tuple[int, str], tuple[bytes, struct.Struct]] = {}

    # -- one step -------------------------------------------------------------------------------
    def response(self, step) -> Dataset:
        state = {"non_ascii": False}
        encoded = [self._slot(slot, step, state) for slot in self.slots]
        declares_charset = state["non_ascii"] or self.request_had_charset
        if declares_charset:
            encoded.append((_CHARSET_TAG, "CS", self.charset_element))
        encoded.sort(key=_tag_of)
        elements = {}
        implicit_vr = self.implicit_vr
        for tag, vr, data in encoded:
            start = self._header_length(vr)
            tag = BaseTag(tag)
            elements[tag] = RawDataElement(tag, vr, len(data) - start, data[start:], 0, implicit_vr, True)
        ds = EncodedResponse(elements)
        ds.set_original_encoding(implicit_vr, True, self._encodings[declares_charset])
        object.__setattr__(ds, "encoded", b"".join(data for _, _, data in encoded))
        object.__setattr__(ds, "encoded_as", (implicit_vr, True))
        return ds

    def _slot(self, slot: _Slot, step, state) -> tuple[int, str, bytes]:
        if slot.item is not None:
            item = sorted((self._slot(sub, step, state) for sub in slot.item), key=lambda e: e[0])
            return slot.tag, "SQ", self._sequence(slot.tag, [b"".join(e[2] for e in item)])
        key = slot.key
        if key is None:
            return slot.tag, slot.vr, self._element(slot.tag, slot.vr, None, state)
        value = key.get(step)
        if (value is None or value == "" or value == []) and key.fallback is not None:
            value = key.fallback(step)
        if slot.vr == "SQ" or isinstance(value, list):
            return slot.tag, "SQ", self._sequence(slot.tag, [self._code_item(slot, entry, state) for entry in value or []])
        if slot.vr == "US" and isinstance(value, str):
            value = None
        return slot.tag, slot.vr, self._element(slot.tag, slot.vr, value, state)

    def _code_item(self, slot: _Slot, entry: dict, state) -> bytes:
        wanted = slot.wanted
        if wanted is None:
            wanted = []
            for keyword in entry:
                tag = tag_for_keyword(keyword)
                if tag is not None:
                    wanted.append((keyword, tag, dictionary_VR(tag)))
        elements = sorted((tag, self._element(tag, vr, fitted_text(entry.get(keyword, ""), vr, self.charsets, state) or None,
                                              state, fitted=True)) for keyword, tag, vr in wanted)
        return b"".join(data for _, data in elements)

    # -- encoding -------------------------------------------------------------------------------
    def _header_length(self, vr: str) -> int:
        return 12 if not self.implicit_vr and vr in _LONG_VRS else 8

    def _header(self, tag: int, vr: str, length: int) -> bytes:
        prefix = self._prefixes.get((tag, vr))
        if prefix is None:
            tag_bytes = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
            if self.implicit_vr:
                prefix = (tag_bytes, _UL)
            elif vr in _LONG_VRS:
                prefix = (tag_bytes + vr.encode() + b"\0\0", _UL)
            else:
                prefix = (tag_bytes + vr.encode(), _US)
            self._prefixes[(tag, vr)] = prefix
        return prefix[0] + prefix[1].pack(length)

    def _sequence(self, tag: int, items: list[bytes]) -> bytes:
        body = b"".join(_ITEM.pack(0xFFFE, 0xE000, len(item)) + item for item in items)
        return self._header(tag, "SQ", len(body)) + body

    def _element(self, tag: int, vr: str, value, state, fitted: bool = False) -> bytes:
        if value is None or value == "":
            return self._header(tag, vr, 0)
        if not fitted:
            if vr == "AE" and isinstance(value, str) and "\\" in value:
                value = value.split("\\")
            value = fitted_text(value, vr, self.charsets, state)
        if vr in _ASCII_TEXT_VRS:
            text = value if isinstance(value, str) else (
                "\\".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else None)
            if text is not None and text.isascii():
                data = text.encode("ascii")
                if len(data) % 2:
                    data += b"\0" if vr == "UI" else b" "
                if self.implicit_vr or len(data) <= 0xFFFF:
                    return self._header(tag, vr, len(data)) + data
        if self.code_extensions and vr in _EXTENDED_TEXT_VRS:
            return self._code_extension_element(tag, vr, value)
        # Non-ASCII text is written in the response's character set, which the answer then declares.
        return self._pydicom_element(tag, vr, value, self.charsets)

    def _code_extension_element(self, tag: int, vr: str, value) -> bytes:
        """ISO 2022 text through worklist.mwl.iso2022: the escape sequences of PS3.5 6.1.2.5.3."""
        values = value if isinstance(value, list) else [value]
        data = b"\\".join(iso2022.encode_value(str(v), self.charsets) for v in values)
        if len(data) % 2:
            data += b" "
        return self._header(tag, vr, len(data)) + data

    def _pydicom_element(self, tag: int, vr: str, value, encodings) -> bytes:
        fp = DicomBytesIO()
        fp.is_implicit_VR, fp.is_little_endian = self.implicit_vr, True
        element = DataElement(tag, vr, Sequence(value) if vr == "SQ" else value)
        write_data_element(fp, element, encodings)
        return fp.getvalue()
