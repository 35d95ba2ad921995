"""DICOM data sets over a real association: MWL C-FIND identifiers (raw bytes, Implicit VR Little Endian),
MPPS N-CREATE/N-SET attribute lists, C-STORE data sets."""
import struct

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from bench.fuzz_cases import BAD_UIDS, Case, flip_bytes, kind, pick
from tests.mpps import support as mpps_builders  # the datasets a modality sends, as the MPPS tests build them

ITEM, ITEM_END, SEQ_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
UNDEFINED = 0xFFFFFFFF
UID_ROOT = "1.2.826.0.1.3680043.10.1455.77."


def element(tag: tuple, value: bytes, length: int | None = None, pad: bool = True) -> bytes:
    if pad and len(value) % 2:
        value += b"\x00" if tag[0] == 0x0020 or tag == (0x0008, 0x0018) else b" "
    return struct.pack("<HHI", tag[0], tag[1], len(value) if length is None else length) + value


def sequence(tag: tuple, items: list[bytes], defined=False) -> bytes:
    if defined:
        body = b"".join(struct.pack("<HHI", *ITEM, len(i)) + i for i in items)
        return struct.pack("<HHI", tag[0], tag[1], len(body)) + body
    body = b"".join(struct.pack("<HHI", *ITEM, UNDEFINED) + i + struct.pack("<HHI", *ITEM_END, 0) for i in items)
    return struct.pack("<HHI", tag[0], tag[1], UNDEFINED) + body + struct.pack("<HHI", *SEQ_END, 0)


SPS = (0x0040, 0x0100)
TOP = {(0x0008, 0x0005): b"ISO_IR 192", (0x0008, 0x0050): b"", (0x0010, 0x0010): b"", (0x0010, 0x0020): b"",
       (0x0010, 0x0030): b"", (0x0010, 0x0040): b"", (0x0020, 0x000D): b"", (0x0032, 0x1060): b"",
       (0x0040, 0x1001): b""}
SPS_KEYS = {(0x0008, 0x0060): b"", (0x0040, 0x0001): b"", (0x0040, 0x0002): b"", (0x0040, 0x0003): b"",
            (0x0040, 0x0006): b"", (0x0040, 0x0007): b"", (0x0040, 0x0009): b"", (0x0040, 0x0010): b""}
NAMES = {(0x0008, 0x0005): "SpecificCharacterSet", (0x0008, 0x0050): "AccessionNumber", (0x0010, 0x0010): "PatientName",
         (0x0010, 0x0020): "PatientID", (0x0010, 0x0030): "PatientBirthDate", (0x0010, 0x0040): "PatientSex",
         (0x0020, 0x000D): "StudyInstanceUID", (0x0032, 0x1060): "RequestedProcedureDescription",
         (0x0040, 0x1001): "RequestedProcedureID", (0x0008, 0x0060): "Modality", (0x0040, 0x0001): "ScheduledStationAETitle",
         (0x0040, 0x0002): "SPSStartDate", (0x0040, 0x0003): "SPSStartTime", (0x0040, 0x0006): "PerformingPhysician",
         (0x0040, 0x0007): "SPSDescription", (0x0040, 0x0009): "SPSID", (0x0040, 0x0010): "ScheduledStationName"}


def identifier(seed, top=None, sps=None, extra_top=b"", extra_sps=b"") -> bytes:
    """A worklist query for today's steps, as a modality sends it, with some keys replaced by raw values."""
    t = {**TOP, **(top or {})}
    s = {**SPS_KEYS, (0x0040, 0x0002): seed.today.encode(), **(sps or {})}
    item = b"".join(element(tag, s[tag]) for tag in sorted(s)) + extra_sps
    body = [element(tag, t[tag]) for tag in sorted(t) if tag < SPS]
    body.append(sequence(SPS, [item]))
    body += [element(tag, t[tag]) for tag in sorted(t) if tag > SPS]
    return b"".join(body) + extra_top


def find_case(name, raw: bytes, note: str) -> Case:
    return Case(name, "find", raw, True, note)


@kind("find_wildcards", "find")
def find_wildcards(rng, seed):
    key = pick(rng, [(0x0010, 0x0010)] * 4 + [(0x0010, 0x0020), (0x0008, 0x0050), (0x0040, 0x0001), (0x0040, 0x0007)])
    if rng.random() < 0.3:
        value = "*?" * rng.randint(1, 8) + pick(rng, ["#", "", "X", "*"])
    else:
        value = "".join(pick(rng, "*?*?AEU^ ") for _ in range(rng.randint(1, 14)))
    where = {"sps": {key: value.encode()}} if key[0] == 0x0040 else {"top": {key: value.encode()}}
    return find_case("find_wildcards", identifier(seed, **where), f"{NAMES[key]} = {value!r}")


SINGLE_VALUED = [(0x0040, 0x0002), (0x0040, 0x0003), (0x0010, 0x0030), (0x0010, 0x0020), (0x0008, 0x0050),
                 (0x0008, 0x0060), (0x0040, 0x0001), (0x0010, 0x0010), (0x0040, 0x0009), (0x0010, 0x0040)]


@kind("find_multivalue", "find")
def find_multivalue(rng, seed):
    key = pick(rng, SINGLE_VALUED)
    value = pick(rng, [b"20261210\\20261211", b"\\", b"\\\\", b"CT\\MR", b"A\\B\\C", b"080000\\090000", b"*\\*",
                       seed.today.encode() + b"\\", b"\\" + seed.today.encode(), b"X\\" * 40])
    where = {"sps": {key: value}} if key[0] == 0x0040 and key != (0x0040, 0x1001) else {"top": {key: value}}
    return find_case("find_multivalue", identifier(seed, **where), f"{NAMES[key]} = {value[:30]!r}")


BAD_DATES = [b"2026", b"20261340", b"-", b"--", b"20261212-20261201", b"1-2-3", b"^", b"2026-12-01", b"00000000",
             b"99999999", b"20260230", b"2026121", b"202612100", b"*", b"?", b"20261210-", b"-20261210", b" 20261210",
             b"20261210 - 20261211", b"\x00", b"ABCDEFGH", b"20261210-20261211-20261212"]
BAD_TIMES = [b"25", b"2500", b"1260", b"126060", b"0800-0700", b"08:00", b"080000.1234567", b"-", b"0800-",
             b"-0800", b"24", b"0", b"080000-080000-0800", b"abc", b"080000+0100"]


@kind("find_bad_dates", "find")
def find_bad_dates(rng, seed):
    key, value = pick(rng, [((0x0040, 0x0002), pick(rng, BAD_DATES)), ((0x0040, 0x0003), pick(rng, BAD_TIMES)),
                            ((0x0010, 0x0030), pick(rng, BAD_DATES))])
    where = {"top": {key: value}} if key[0] == 0x0010 else {"sps": {key: value}}
    return find_case("find_bad_dates", identifier(seed, **where), f"{NAMES[key]} = {value!r}")


@kind("find_charsets", "find")
def find_charsets(rng, seed):
    charset = pick(rng, [b"ISO_IR 999", b"ISO 2022 IR 87", b"\\ISO 2022 IR 87", b"ISO_IR 100\\ISO_IR 192", b"",
                         b"GB18030", b"ISO_IR 6", b"iso_ir 192", b"ISO_IR 192\x00", b"ISO 2022 IR 6\\ISO 2022 IR 149",
                         b"UTF-8", b"\\\\\\", b"ISO_IR 13"])
    name = pick(rng, [b"M\xfcller*", b"\x1b$B;3ED\x1b(B*", "Müller*".encode(), b"\xc3\x28*", b"*"])
    return find_case("find_charsets", identifier(seed, top={(0x0008, 0x0005): charset, (0x0010, 0x0010): name}),
                     f"Specific Character Set {charset!r}, PatientName {name!r}")


@kind("find_invalid_utf8", "find")
def find_invalid_utf8(rng, seed):
    key = pick(rng, [(0x0010, 0x0010), (0x0010, 0x0020), (0x0008, 0x0050), (0x0032, 0x1060)])
    value = pick(rng, [b"\xff\xfe", b"\xc3", b"M\xc3\x28ller", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf*",
                       b"\x80" * 64])
    return find_case("find_invalid_utf8", identifier(seed, top={key: value}), f"ISO_IR 192, {NAMES[key]} = {value!r}")


@kind("find_nul_bytes", "find")
def find_nul_bytes(rng, seed):
    key = pick(rng, [(0x0010, 0x0010), (0x0010, 0x0020), (0x0008, 0x0050), (0x0040, 0x0001)])
    value = pick(rng, [b"\x00", b"A\x00B", b"*\x00", b"\x00" * 16, b"CT01\x00"])
    where = {"sps": {key: value}} if key[0] == 0x0040 else {"top": {key: value}}
    return find_case("find_nul_bytes", identifier(seed, **where), f"{NAMES[key]} = {value!r}")


@kind("find_duplicate_tags", "find")
def find_duplicate_tags(rng, seed):
    choice = rng.randrange(4)
    if choice == 0:
        raw = identifier(seed, top={(0x0010, 0x0010): b"A*"}) + element((0x0010, 0x0010), b"B*")
        note = "PatientName twice (A*, then B* at the end)"
    elif choice == 1:
        raw = identifier(seed, extra_sps=element((0x0008, 0x0060), b"MR"))
        note = "Modality twice in the SPS item"
    elif choice == 2:
        raw = element((0x0010, 0x0020), b"X") + identifier(seed)
        note = "PatientID before SpecificCharacterSet (tags out of order)"
    else:
        raw = identifier(seed) + sequence(SPS, [element((0x0008, 0x0060), b"CT")])
        note = "two ScheduledProcedureStepSequence elements"
    return find_case("find_duplicate_tags", raw, note)


@kind("find_length_overrun", "find")
def find_length_overrun(rng, seed):
    raw = identifier(seed)
    choice = rng.randrange(5)
    if choice == 0:
        raw += struct.pack("<HHI", 0x0040, 0x2016, rng.choice([10, 1000, 0x7FFFFFFF])) + b"AB"
        note = "last element's length runs past the end"
    elif choice == 1:
        raw = raw[:8] + struct.pack("<HHI", 0x0010, 0x0010, UNDEFINED) + b"DOE" + raw[8:]
        note = "PatientName with undefined length"
    elif choice == 2:
        raw += element((0x0040, 0x2016), b"ABC", pad=False)
        note = "odd length value"
    elif choice == 3:
        raw += struct.pack("<HH", 0x0040, 0x2016)
        note = "element header cut after the tag"
    else:
        raw = sequence(SPS, [element((0x0008, 0x0060), b"CT")], defined=True)[:-4] + struct.pack("<I", 999) + raw
        note = "defined-length sequence whose item length lies"
    return find_case("find_length_overrun", raw, note)


@kind("find_huge_values", "find")
def find_huge_values(rng, seed):
    choice = rng.randrange(4)
    if choice == 0:
        count = pick(rng, [2000, 20000])
        raw = identifier(seed, top={(0x0010, 0x0020): b"\\".join(b"P%d" % i for i in range(count))})
        note = f"{count} values in PatientID"
    elif choice == 1:
        size = pick(rng, [1000, 65536, 400000])
        raw = identifier(seed, top={(0x0010, 0x0010): b"A" * size + b"*"})
        note = f"a {size}-character PatientName"
    elif choice == 2:
        count = pick(rng, [1000, 10000])
        raw = identifier(seed, top={(0x0020, 0x000D): b"\\".join(b"1.2.3.%d" % i for i in range(count))})
        note = f"a UID list of {count} Study Instance UIDs"
    else:
        raw = identifier(seed, top={(0x0010, 0x1000): b"X" * 100000})  # OtherPatientIDs, not a matching key
        note = "100 kB OtherPatientIDs"
    return find_case("find_huge_values", raw, note)


@kind("find_nested_sequences", "find")
def find_nested_sequences(rng, seed):
    choice = rng.randrange(4)
    if choice == 0:
        depth = pick(rng, [10, 100, 400])
        inner = element((0x0008, 0x0100), b"X")
        for _ in range(depth):
            inner = sequence((0x0040, 0x0008), [inner])
        raw = identifier(seed, extra_sps=inner)
        note = f"Scheduled Protocol Code Sequence nested {depth} deep"
    elif choice == 1:
        count = pick(rng, [2, 50, 2000])
        items = [element((0x0008, 0x0060), b"CT") for _ in range(count)]
        raw = b"".join(element(t, v) for t, v in sorted(TOP.items()) if t < SPS) + sequence(SPS, items)
        note = f"{count} items in the ScheduledProcedureStepSequence"
    elif choice == 2:
        raw = b"".join(element(t, v) for t, v in sorted(TOP.items()) if t < SPS) + sequence(SPS, [])
        note = "empty ScheduledProcedureStepSequence"
    else:
        raw = identifier(seed)[:-8]
        note = "sequence delimiter missing"
    return find_case("find_nested_sequences", raw, note)


@kind("find_private_tags", "find")
def find_private_tags(rng, seed):
    choice = rng.randrange(5)
    if choice == 0:
        raw = identifier(seed) + element((0x0099, 0x0010), b"FUZZ") + element((0x0099, 0x1001), b"*?*")
        note = "private creator (0099,0010) and (0099,1001) = *?*"
    elif choice == 1:
        raw = element((0x0000, 0x0100), struct.pack("<H", 0x0020)) + identifier(seed)
        note = "command group element (0000,0100) inside the identifier"
    elif choice == 2:
        raw = element((0x0002, 0x0010), b"1.2.840.10008.1.2.1\x00") + identifier(seed)
        note = "file meta (0002,0010) inside the identifier"
    elif choice == 3:
        raw = element((0x0010, 0x0000), struct.pack("<I", 7)) + identifier(seed)
        note = "a lying group length (0010,0000)"
    else:
        raw = identifier(seed) + element((0x7FE0, 0x0010), b"\x00" * 20000)
        note = "Pixel Data in a query"
    return find_case("find_private_tags", raw, note)


@kind("find_truncated", "find")
def find_truncated(rng, seed):
    raw = identifier(seed, top={(0x0010, 0x0010): b"*"})
    cut = rng.randrange(1, len(raw))
    return find_case("find_truncated", raw[:cut], f"identifier cut after {cut} of {len(raw)} bytes")


@kind("find_byte_flip", "find")
def find_byte_flip(rng, seed):
    raw = identifier(seed, top={(0x0010, 0x0020): pick(rng, seed.patient_ids).encode()})
    count = rng.randint(1, 8)
    return find_case("find_byte_flip", flip_bytes(rng, raw, count), f"identifier with {count} bits flipped")


@kind("find_bad_uid_keys", "find")
def find_bad_uid_keys(rng, seed):
    value = pick(rng, BAD_UIDS + ["*", "1.2.*", "1.2.?", "1.2.3-1.2.4"])
    return find_case("find_bad_uid_keys", identifier(seed, top={(0x0020, 0x000D): value.encode()}),
                     f"StudyInstanceUID key {value[:30]!r}")


# --- MPPS ---------------------------------------------------------------------------------------------------------

def ssa_item(order: dict | None) -> Dataset:
    item = Dataset()
    item.StudyInstanceUID = order["study_uid"] if order else generate_uid(UID_ROOT)
    item.ReferencedStudySequence = Sequence()
    item.AccessionNumber = order["accession"] if order else ""
    item.RequestedProcedureID = order["rp_id"] if order else ""
    item.RequestedProcedureDescription = ""
    item.ScheduledProcedureStepID = order["sps_id"] if order else ""
    item.ScheduledProcedureStepDescription = ""
    item.ScheduledProtocolCodeSequence = Sequence()
    return item


def series_item(images: int = 2) -> Dataset:
    return mpps_builders.series_item(images, series_uid=generate_uid(UID_ROOT))


def n_create(seed, order=None) -> Dataset:
    """The N-CREATE a modality sends for `order` (a seeded order, or None for an unscheduled exam) today."""
    ds = mpps_builders.n_create_dataset(ssa_items=[ssa_item(order)],
                                        patient_id=order["patient_id"] if order else "FZEMERG",
                                        patient_name=order["name"] if order else "FUZZ^UNSCHEDULED")
    ds.PerformedProcedureStepStartDate = seed.today
    return ds


def n_set(seed, status=None, series=None) -> Dataset:
    ds = Dataset()
    if status:
        ds.PerformedProcedureStepStatus = status
    if status in ("COMPLETED", "DISCONTINUED"):
        ds.PerformedProcedureStepEndDate = seed.today
        ds.PerformedProcedureStepEndTime = "084500"
    ds.PerformedSeriesSequence = Sequence(series if series is not None else [series_item()])
    return ds


def mpps_case(name, ops: list, note: str) -> Case:
    """ops: [("create" | "set", sop_instance_uid, Dataset | raw bytes), ...]; the outcome joins each status."""
    return Case(name, "mpps", ops, True, note)


def new_uid() -> str:
    return generate_uid(UID_ROOT)


@kind("mpps_missing_attributes", "mpps")
def mpps_missing_attributes(rng, seed):
    ds = n_create(seed, pick(rng, seed.orders + [None]))
    gone = rng.sample([e.keyword for e in ds], rng.randint(1, 6))
    for keyword in gone:
        delattr(ds, keyword)
    return mpps_case("mpps_missing_attributes", [("create", new_uid(), ds)], "N-CREATE without " + ", ".join(gone))


INVALID = {"PerformedProcedureStepStatus": ["FOO", "", "COMPLETED", "DISCONTINUED", "in progress", "IN PROGRESS\\X"],
           "PerformedProcedureStepStartDate": ["20261340", "", "2026", "99999999", "-"],
           "PerformedProcedureStepStartTime": ["2561", "", "abc", "24"],
           "Modality": ["", "CT\\MR", "X" * 40, "\x00"],
           "PatientID": ["", "\x00", "A" * 200, "A\\B"],
           "PatientName": ["\x00", "=" * 5, "^" * 100, "A" * 2000],
           "PerformedStationAETitle": ["", " " * 16, "X" * 40, "\\"]}


@kind("mpps_invalid_values", "mpps")
def mpps_invalid_values(rng, seed):
    ds = n_create(seed, pick(rng, seed.orders + [None]))
    keyword = pick(rng, sorted(INVALID))
    value = pick(rng, INVALID[keyword])
    setattr(ds, keyword, value)
    return mpps_case("mpps_invalid_values", [("create", new_uid(), ds)], f"N-CREATE with {keyword} = {value[:20]!r}")


@kind("mpps_bad_uids", "mpps")
def mpps_bad_uids(rng, seed):
    bad = pick(rng, [u for u in BAD_UIDS if 0 < len(u) <= 64])
    where = rng.randrange(3)
    ds = n_create(seed, pick(rng, seed.orders + [None]))
    if where == 0:
        return mpps_case("mpps_bad_uids", [("create", bad, ds)], f"N-CREATE with SOP Instance UID {bad!r}")
    if where == 1:
        ds.ScheduledStepAttributesSequence[0].StudyInstanceUID = bad
        return mpps_case("mpps_bad_uids", [("create", new_uid(), ds)], f"N-CREATE with SSA Study Instance UID {bad!r}")
    uid = new_uid()
    series = series_item()
    series.SeriesInstanceUID = bad
    return mpps_case("mpps_bad_uids", [("create", uid, ds), ("set", uid, n_set(seed, "COMPLETED", [series]))],
                     f"N-SET COMPLETED with Series Instance UID {bad!r}")


@kind("mpps_transitions", "mpps")
def mpps_transitions(rng, seed):
    uid = new_uid()
    order = pick(rng, seed.orders + [None])
    create = ("create", uid, n_create(seed, order))
    plans = {
        "set without create": [("set", uid, n_set(seed, "COMPLETED"))],
        "create twice": [create, ("create", uid, n_create(seed, order))],
        "COMPLETED then IN PROGRESS": [create, ("set", uid, n_set(seed, "COMPLETED")),
                                       ("set", uid, n_set(seed, "IN PROGRESS"))],
        "COMPLETED then DISCONTINUED": [create, ("set", uid, n_set(seed, "COMPLETED")),
                                        ("set", uid, n_set(seed, "DISCONTINUED"))],
        "COMPLETED twice": [create, ("set", uid, n_set(seed, "COMPLETED")), ("set", uid, n_set(seed, "COMPLETED"))],
        "set to FOO": [create, ("set", uid, n_set(seed, "FOO"))],
        "set changing PatientID": [create, ("set", uid, _with(n_set(seed), PatientID="OTHER"))],
        "create without UID": [("create", None, n_create(seed, order))],
    }
    name = pick(rng, sorted(plans))
    return mpps_case("mpps_transitions", plans[name], name)


def _with(ds: Dataset, **values) -> Dataset:
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


_HUGE_SERIES: dict = {}  # (series, images) -> the encoded-once series items: building them is the slow part


@kind("mpps_huge_sequences", "mpps", heavy=True)
def mpps_huge_sequences(rng, seed):
    uid = new_uid()
    series_count, images = pick(rng, [(1, 5000), (500, 2), (2000, 1), (20, 100)])
    if (series_count, images) not in _HUGE_SERIES:
        _HUGE_SERIES[(series_count, images)] = [series_item(images) for _ in range(series_count)]
    ops = [("create", uid, n_create(seed, pick(rng, seed.orders))),
           ("set", uid, n_set(seed, pick(rng, [None, "COMPLETED"]), list(_HUGE_SERIES[(series_count, images)])))]
    return mpps_case("mpps_huge_sequences", ops, f"N-SET with {series_count} series x {images} images")


@kind("mpps_raw_mutation", "mpps")
def mpps_raw_mutation(rng, seed):
    from pynetdicom.dsutils import encode

    raw = encode(n_create(seed, pick(rng, seed.orders)), True, True)
    if rng.random() < 0.5:
        cut = rng.randrange(1, len(raw))
        return mpps_case("mpps_raw_mutation", [("create", new_uid(), raw[:cut])], f"N-CREATE cut after {cut} bytes")
    count = rng.randint(1, 8)
    return mpps_case("mpps_raw_mutation", [("create", new_uid(), flip_bytes(rng, raw, count))],
                     f"N-CREATE with {count} bits flipped")


# --- C-STORE ------------------------------------------------------------------------------------------------------

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"


def image(seed, order=None) -> Dataset:
    order = order or seed.orders[0]
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = new_uid()
    ds.StudyDate = seed.today
    ds.AccessionNumber = order["accession"]
    ds.Modality = "CT"
    ds.PatientName = order["name"]
    ds.PatientID = order["patient_id"]
    ds.StudyInstanceUID = order["study_uid"]
    ds.SeriesInstanceUID = new_uid()
    ds.InstanceNumber = 1
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\x00\x01" * 16
    return ds


def store_case(name, ds: Dataset, note: str, raw: bytes | None = None, syntax="1.2.840.10008.1.2",
               sop_class=None, sop_instance=None) -> Case:
    """Sent on the context of (sop_class or ds.SOPClassUID, syntax); `raw` replaces the encoded data set."""
    return Case(name, "store", {"dataset": ds, "raw": raw, "syntax": syntax, "sop_class": sop_class,
                                "sop_instance": sop_instance}, True, note)


@kind("store_bad_uids", "store")
def store_bad_uids(rng, seed):
    ds = image(seed, pick(rng, seed.orders))
    keyword = pick(rng, ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])
    bad = pick(rng, [u for u in BAD_UIDS if u and len(u) <= 64])
    setattr(ds, keyword, bad)
    return store_case("store_bad_uids", ds, f"C-STORE with {keyword} {bad!r}")


@kind("store_ts_mismatch", "store")
def store_ts_mismatch(rng, seed):
    from pynetdicom.dsutils import encode

    ds = image(seed, pick(rng, seed.orders))
    syntax, implicit, little, label = pick(rng, [
        ("1.2.840.10008.1.2", False, True, "Explicit VR LE data on an Implicit VR context"),
        ("1.2.840.10008.1.2.1", True, True, "Implicit VR LE data on an Explicit VR LE context"),
        ("1.2.840.10008.1.2.1", False, False, "Explicit VR BE data on an Explicit VR LE context"),
        ("1.2.840.10008.1.2.4.50", False, True, "uncompressed data on a JPEG Baseline context")])
    return store_case("store_ts_mismatch", ds, label, raw=encode(ds, implicit, little), syntax=syntax)


@kind("store_truncated", "store")
def store_truncated(rng, seed):
    from pynetdicom.dsutils import encode

    ds = image(seed, pick(rng, seed.orders))
    raw = encode(ds, True, True)
    if rng.random() < 0.6:
        cut = rng.randrange(0, len(raw))
        return store_case("store_truncated", ds, f"data set cut after {cut} of {len(raw)} bytes", raw=raw[:cut])
    count = rng.randint(1, 8)
    return store_case("store_truncated", ds, f"data set with {count} bits flipped", raw=flip_bytes(rng, raw, count))


@kind("store_missing_uids", "store")
def store_missing_uids(rng, seed):
    ds = image(seed, pick(rng, seed.orders))
    gone = rng.sample(["StudyInstanceUID", "SeriesInstanceUID", "PatientID", "SpecificCharacterSet", "Modality",
                       "AccessionNumber", "PixelData"], rng.randint(1, 3))
    sop_class, sop_instance = ds.SOPClassUID, ds.SOPInstanceUID
    for keyword in gone:
        delattr(ds, keyword)
    if rng.random() < 0.3:
        del ds.SOPInstanceUID
        gone.append("SOPInstanceUID")
    from pynetdicom.dsutils import encode

    return store_case("store_missing_uids", ds, "C-STORE without " + ", ".join(gone), raw=encode(ds, True, True),
                      sop_class=sop_class, sop_instance=sop_instance)


@kind("store_wrong_sop_class", "store")
def store_wrong_sop_class(rng, seed):
    from pynetdicom.dsutils import encode

    ds = image(seed, pick(rng, seed.orders))
    choice = rng.randrange(3)
    if choice == 0:
        return store_case("store_wrong_sop_class", ds, "CT data set sent as MR Image Storage", raw=encode(ds, True, True),
                          sop_class=MR)
    if choice == 1:
        return store_case("store_wrong_sop_class", ds, "request SOP Instance UID differs from the data set's",
                          raw=encode(ds, True, True), sop_instance=new_uid())
    ds.SOPClassUID = pick(rng, ["1.2.3.4", "1.2.840.10008.1.1", "1.2.840.10008.5.1.4.31", ""])
    return store_case("store_wrong_sop_class", ds, f"data set SOP Class UID {ds.SOPClassUID!r} on the CT context",
                      raw=encode(ds, True, True), sop_class=CT)
