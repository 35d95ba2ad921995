"""Is a received data set encoded in the transfer syntax its presentation context negotiated? A cheap look.

A C-STORE data set is stored byte for byte with a File Meta header naming the negotiated syntax; one sent in
another syntax (implicit for explicit VR, big for little endian) would be kept unreadable by every other
program (dcmsend then cannot route it). pydicom reads such a data set anyway (it guesses and warns), so the
first element header is checked here, in the negotiated syntax: a tag whose group is plausible for that byte
order, a VR where explicit VR has one (and none where implicit has the length), a length that fits.
Deflated data sets are not looked at (their bytes are compressed).
"""
import struct

from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

VRS = frozenset(b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT "
                b"UV".split())
LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ UC UN UR UT UV".split())
UNDEFINED = 0xFFFFFFFF
_SWAPPED_GROUP_LIMIT = 0x00FF  # data set groups are 0x0008 and up; byte-swapped they read 0x0800 and up


def _syntax_name(implicit: bool, little: bool) -> str:
    # Short: the Error Comment (LO) has 64 characters, "Cannot understand: " included.
    return f"{'implicit' if implicit else 'explicit'} VR {'LE' if little else 'BE'}"


def encoding_problem(data, transfer_syntax: str) -> str | None:
    """Why `data` (a data set without File Meta: bytes or a memoryview) is not in `transfer_syntax`, in words;
    None when it may be. Only the first 12 bytes are read."""
    size, data = len(data), bytes(data[:12])
    syntax = UID(transfer_syntax)
    if syntax == DeflatedExplicitVRLittleEndian or not syntax.is_transfer_syntax or size == 0:
        return None
    implicit, little = syntax.is_implicit_VR, syntax.is_little_endian
    expected = _syntax_name(implicit, little)
    if size < 8:
        return f"data set of {size} bytes is too short"
    order = "<" if little else ">"
    group, element = struct.unpack(order + "HH", data[:4])
    swapped = struct.unpack(("<" if not little else ">") + "H", data[:2])[0]
    if group > _SWAPPED_GROUP_LIMIT and swapped <= _SWAPPED_GROUP_LIMIT:
        return f"data set is {'big' if little else 'little'} endian, not {expected}"
    vr = data[4:6]
    if implicit:
        if vr in VRS:
            return f"data set is explicit VR, not {expected}"
        length = struct.unpack(order + "L", data[4:8])[0]
        if length != UNDEFINED and length > size - 8:
            return f"data set is not {expected}: length overrun"
        return None
    if vr not in VRS:
        return f"data set is implicit VR, not {expected}"
    if vr in LONG_VRS:
        if size < 12 or data[6:8] != b"\0\0":
            return f"data set is not {expected}: bad element header"
        length, header = struct.unpack(order + "L", data[8:12])[0], 12
    else:
        length, header = struct.unpack(order + "H", data[6:8])[0], 8
    if length != UNDEFINED and length > size - header:
        return f"data set is not {expected}: length overrun"
    return None
