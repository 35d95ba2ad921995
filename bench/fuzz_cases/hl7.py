"""HL7 v2 over MLLP: mutated frames, framing faults, charsets, escapes, repeats, every message type it knows."""
import itertools

from bench.fuzz_cases import BAD_UIDS, Case, flip_bytes, kind, pick

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
_ids = itertools.count(1)


def control_id(prefix="FZ") -> str:
    return f"{prefix}{next(_ids):07d}"


def framed(message: bytes) -> bytes:
    return VT + message + FS + CR


def msh(message_type: str, control: str, version="2.3.1", charset="UNICODE UTF-8", app="FUZZ_RIS") -> str:
    return f"MSH|^~\\&|{app}|HOSP|BROKER|RADIOLOGY|20260312081502||{message_type}|{control}|P|{version}||||||{charset}"


def order_segments(seed, n: int, control=None, placer=None, accession=None, study_uid=None, name="FUZZ^PAT",
                   patient_id=None, order_control="NW", start=None) -> list[str]:
    control = control or control_id()
    placer = placer or f"FZP{control}"
    accession = accession or f"FZA{control}"[:16]
    patient_id = patient_id or f"FZ{n % 50:04d}"
    start = start or f"{seed.today}120000"
    segments = [msh("ORM^O01", control),
                f"PID|1||{patient_id}^^^HOSP^MR||{name}||19620415|M",
                "PV1|1|O|RAD^R12^1||||0815^Weiss^Anna^^^Dr.|||||||||||V556677",
                f"ORC|{order_control}|{placer}^FUZZ||||SC||^^^{start}^^R||20260312081500",
                f"OBR|1|{placer}^FUZZ||CTHEAD^CT head^99LOCAL^CTH^CT head routine^99PROT||||||||||||||{accession}|"
                f"RP{control}|SPS{control}||||CT|||^^^{start}^^R"]
    if study_uid:
        segments.append(f"ZDS|{study_uid}^RIS^Application^DICOM")
    return segments


def adt_segments(event: str, control: str, patient_id="FZ0001", name="FUZZ^PAT", app="FUZZ_RIS") -> list[str]:
    return [msh(f"ADT^{event}^ADT_A01", control, "2.5", app=app), f"EVN|{event}|20260312081502",
            f"PID|1||{patient_id}^^^HOSP^MR||{name}||19700101|F", "PV1|1|I|RAD^R1^1"]


def omi_segments(seed, control: str) -> list[str]:
    return [msh("OMI^O23^OMI_O23", control, "2.5.1"), "PID|1||FZ0002^^^HOSP^MR||FUZZ^OMI||19700101|F",
            "PV1|1|O|RAD^R1", f"ORC|NW|P{control}|||SC", f"TQ1|1||||||{seed.today}080000||R",
            f"OBR|1|P{control}||PROC^Procedure^99LOCAL",
            f"IPC|A{control}|RP1|1.2.826.0.1.3680043.10.1455.99.{next(_ids)}|SPS1|MR|PROT^Protocol^99PROT|||MR01"]


def join(segments: list[str], encoding="utf-8", sep="\r") -> bytes:
    return (sep.join(segments) + sep).encode(encoding, "surrogateescape")


def good_order(rng, seed) -> tuple[list[str], str]:
    control = control_id()
    return order_segments(seed, rng.randrange(1000), control=control), control


def hl7_case(name, message: bytes, note: str, expect_reply=True, raw=False, **extra) -> Case:
    return Case(name, "hl7", [message if raw else framed(message)], expect_reply, note, extra)


@kind("hl7_byte_flip", "hl7")
def byte_flip(rng, seed):
    segments, _ = good_order(rng, seed)
    count = rng.randint(1, 12)
    return hl7_case("hl7_byte_flip", flip_bytes(rng, join(segments), count), f"ORM with {count} bits flipped")


@kind("hl7_truncated", "hl7")
def truncated(rng, seed):
    message = join(good_order(rng, seed)[0])
    cut = rng.randrange(0, len(message))
    return hl7_case("hl7_truncated", message[:cut], f"ORM cut after {cut} bytes, framed")


@kind("hl7_segment_deleted", "hl7")
def segment_deleted(rng, seed):
    segments, _ = good_order(rng, seed)
    gone = rng.sample(range(len(segments)), rng.randint(1, len(segments) - 1))
    names = ",".join(segments[i][:3] for i in gone)
    return hl7_case("hl7_segment_deleted", join([s for i, s in enumerate(segments) if i not in gone]),
                    f"ORM without {names}")


@kind("hl7_segment_repeated", "hl7")
def segment_repeated(rng, seed):
    segments, _ = good_order(rng, seed)
    i = rng.randrange(len(segments))
    times = pick(rng, [2, 3, 10, 100, 1000])
    segments[i:i + 1] = [segments[i]] * times
    return hl7_case("hl7_segment_repeated", join(segments), f"ORM with {segments[i][:3]} x{times}")


@kind("hl7_segment_shuffled", "hl7")
def segment_shuffled(rng, seed):
    segments, _ = good_order(rng, seed)
    rest = segments[1:] if rng.random() < 0.7 else segments
    rng.shuffle(rest)
    segments = [segments[0], *rest] if len(rest) < len(segments) else rest
    return hl7_case("hl7_segment_shuffled", join(segments), "ORM segments in order " + ",".join(s[:3] for s in segments))


@kind("hl7_huge_field", "hl7")
def huge_field(rng, seed):
    segments, _ = good_order(rng, seed)
    size = pick(rng, [70_000, 300_000, 1_000_000, 3_000_000])
    where = pick(rng, [(1, 5, "PID-5"), (1, 3, "PID-3"), (4, 4, "OBR-4"), (3, 2, "ORC-2"), (0, 9, "MSH-10")])
    fields = segments[where[0]].split("|")
    fields[where[1] if where[0] else where[1] - 1] = pick(rng, ["A", "x^", "9"]) * (size // 2)
    segments[where[0]] = "|".join(fields)
    return hl7_case("hl7_huge_field", join(segments), f"ORM with a {size // 2} character {where[2]}")


@kind("hl7_many_repetitions", "hl7")
def many_repetitions(rng, seed):
    segments, _ = good_order(rng, seed)
    count = pick(rng, [500, 2000, 4000, 8000])
    where = pick(rng, [(1, 3, "PID-3", "X{i}^^^HOSP^MR"), (1, 5, "PID-5", "N{i}^G"), (4, 4, "OBR-4", "C{i}^M^L"),
                       (1, 11, "PID-11", "S{i}^^C")])
    fields = segments[where[0]].split("|")
    while len(fields) <= where[1]:
        fields.append("")
    fields[where[1]] = "~".join(where[3].format(i=i) for i in range(count))
    segments[where[0]] = "|".join(fields)
    return hl7_case("hl7_many_repetitions", join(segments), f"ORM with {count} repetitions in {where[2]}")


@kind("hl7_many_components", "hl7")
def many_components(rng, seed):
    segments, _ = good_order(rng, seed)
    count = pick(rng, [300, 3000, 10000])
    sep = pick(rng, ["^", "&", "^&"])
    i = pick(rng, [1, 3, 4])
    fields = segments[i].split("|")
    fields[pick(rng, [1, 2, 3]) if len(fields) > 3 else 1] = sep.join(f"c{j}" for j in range(count))
    segments[i] = "|".join(fields)
    return hl7_case("hl7_many_components", join(segments), f"{segments[i][:3]} field with {count} '{sep}' parts")


CHARSETS = ["ISO IR 999", "UTF-16", "8859/15", "ISO IR87", "UNICODE", "ASCII~8859/1", "GB 18030", "KS X 1001",
            "\x1b$B", "BIG-5", "unicode utf-8", "ISO_IR 192", "8859/1~8859/2~8859/3", "UTF8", "CNS 11643-1992"]


@kind("hl7_charset_wrong", "hl7")
def charset_wrong(rng, seed):
    segments, _ = good_order(rng, seed)
    charset = pick(rng, CHARSETS)
    segments[0] = segments[0].rsplit("|", 1)[0] + "|" + charset
    segments[1] = segments[1].replace("FUZZ^PAT", "Müller^Jürgen")
    return hl7_case("hl7_charset_wrong", join(segments), f"MSH-18 {charset!r} with a UTF-8 name")


@kind("hl7_charset_lying", "hl7")
def charset_lying(rng, seed):
    segments, _ = good_order(rng, seed)
    claim, encoding, name = pick(rng, [("ASCII", "utf-8", "Müller^Jürgen"), ("8859/1", "utf-8", "Łódź^Żaneta"),
                                       ("UNICODE UTF-8", "latin-1", "Müller^Jürgen"),
                                       ("UNICODE UTF-8", "utf-16-le", "Müller^Jürgen"),
                                       ("8859/5", "utf-8", "Иванов^Иван"), ("ISO IR87", "utf-8", "山田^太郎")])
    segments[0] = segments[0].rsplit("|", 1)[0] + "|" + claim
    segments[1] = segments[1].replace("FUZZ^PAT", name)
    data = "\r".join(segments[:1]).encode("ascii") + b"\r" + ("\r".join(segments[1:]) + "\r").encode(encoding)
    return hl7_case("hl7_charset_lying", data, f"MSH-18 {claim} but the body is {encoding}")


@kind("hl7_invalid_bytes", "hl7")
def invalid_bytes(rng, seed):
    message = bytearray(join(good_order(rng, seed)[0]))
    bad = pick(rng, [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80\x80", b"\xc0\xaf", b"\xfe\xff"])
    for _ in range(rng.randint(1, 20)):
        at = rng.randrange(10, len(message))
        message[at:at] = bad
    return hl7_case("hl7_invalid_bytes", bytes(message), f"ORM with invalid UTF-8 {bad!r} inserted")


ESCAPES = ["\\X", "\\XZZ\\", "\\X0\\", "\\XC3\\", "\\XFFFE\\", "\\", "\\\\", "\\E", "\\H\\\\N\\", "\\Zfoo\\", "\\C2842\\",
           "\\M2442\\", "\\.br\\", "\\S\\\\T\\\\R\\\\E\\", "\\X" + "41" * 5000 + "\\", "\\F", "\\R\\" * 2000, "\\T\\X\\"]


@kind("hl7_bad_escape", "hl7")
def bad_escape(rng, seed):
    segments, control = good_order(rng, seed)
    esc = pick(rng, ESCAPES)
    i = pick(rng, [0, 1, 3, 4])
    fields = segments[i].split("|")
    j = 9 if i == 0 else pick(rng, [2, 3, 5]) if len(fields) > 5 else 1
    fields[j] = fields[j][:4] + esc + fields[j][4:]
    segments[i] = "|".join(fields)
    return hl7_case("hl7_bad_escape", join(segments), f"escape {esc[:20]!r} in {segments[i][:3]}-{j}")


@kind("hl7_nested_mllp", "hl7")
def nested_mllp(rng, seed):
    message = join(good_order(rng, seed)[0])
    at = rng.randrange(1, len(message))
    inner = pick(rng, [VT, FS, FS + CR, VT + VT, FS + FS + CR, CR + FS])
    return hl7_case("hl7_nested_mllp", message[:at] + inner + message[at:], f"MLLP {inner!r} inside the frame at {at}")


@kind("hl7_no_end_block", "hl7")
def no_end_block(rng, seed):
    message = join(good_order(rng, seed)[0])
    tail = pick(rng, [b"", FS, CR, b"\x1c\x0a", b"\x1d\x0d"])
    return hl7_case("hl7_no_end_block", VT + message + tail, f"a frame ending {tail!r} instead of FS CR",
                    expect_reply=False, raw=True)


@kind("hl7_empty_frame", "hl7")
def empty_frame(rng, seed):
    body = pick(rng, [b"", CR, b" ", CR * 10, b"\r\n", b"MSH", b"MSH|", b"MSH|^~\\&"])
    return hl7_case("hl7_empty_frame", body, f"a frame holding {body!r}")


@kind("hl7_non_hl7_text", "hl7")
def non_hl7_text(rng, seed):
    text = pick(rng, [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b'{"resourceType":"Patient"}', b"<xml/>",
                      b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"HELLO\r", b"PID|1||X\rMSH|^~\\&|A\r",
                      bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, 3000)))])
    inside = rng.random() < 0.6
    return hl7_case("hl7_non_hl7_text", framed(text) if inside else text,
                    f"{'framed' if inside else 'unframed'} non-HL7 {text[:24]!r}", expect_reply=inside, raw=True)


@kind("hl7_nul_bytes", "hl7")
def nul_bytes(rng, seed):
    message = bytearray(join(good_order(rng, seed)[0]))
    where = pick(rng, ["field", "msh10", "many"])
    if where == "msh10":
        at = message.index(b"|P|") - 2
        message[at:at] = b"\x00"
    else:
        for _ in range(1 if where == "field" else 50):
            at = rng.randrange(12, len(message))
            message[at:at] = b"\x00"
    return hl7_case("hl7_nul_bytes", bytes(message), f"ORM with NUL bytes ({where})")


@kind("hl7_line_endings", "hl7")
def line_endings(rng, seed):
    segments, _ = good_order(rng, seed)
    sep = pick(rng, ["\n", "\r\n", "\n\r", "\r\r", "\r\n\r\n"])
    data = join(segments, sep=sep)
    if rng.random() < 0.3:
        data = data.rstrip(b"\r\n")
    return hl7_case("hl7_line_endings", data, f"segments separated by {sep!r}")


@kind("hl7_duplicate_control_id", "hl7")
def duplicate_control_id(rng, seed):
    """An ADT then an ORM sharing MSH-3/4/10: the ORM must be applied (checked with a worklist C-FIND)."""
    control = control_id("DUP")
    first = pick(rng, ["adt", "orm"])
    one = adt_segments("A08", control) if first == "adt" else order_segments(seed, 1, control=control)
    accession = f"D{control}"[:16]
    two = order_segments(seed, 2, control=control, accession=accession, placer=f"DP{control}")
    return Case("hl7_duplicate_control_id", "hl7", [framed(join(one)), framed(join(two))], True,
                f"{first.upper()} then ORM NW with the same MSH-3/4/10 {control}",
                {"check_accession": accession})


@kind("hl7_duplicate_study_uid", "hl7")
def duplicate_study_uid(rng, seed):
    segments = order_segments(seed, 3, study_uid=pick(rng, seed.study_uids))
    return hl7_case("hl7_duplicate_study_uid", join(segments), "new order with another order's Study Instance UID (ZDS)")


@kind("hl7_bad_study_uid", "hl7")
def bad_study_uid(rng, seed):
    uid = pick(rng, BAD_UIDS)
    return hl7_case("hl7_bad_study_uid", join(order_segments(seed, 4, study_uid=uid)), f"ZDS-1 Study UID {uid[:30]!r}")


MESSAGE_TYPES = ["ORM^O01", "ORM^O01^ORM_O01", "OMI^O23^OMI_O23", "OMG^O19", "ORU^R01", "SIU^S12", "QRY^A19", "ACK",
                 "ACK^O01", "ADT^A01", "ADT^A02", "ADT^A03", "ADT^A04", "ADT^A05", "ADT^A08", "ADT^A11", "ADT^A13",
                 "ADT^A18", "ADT^A23", "ADT^A28", "ADT^A31", "ADT^A34", "ADT^A39", "ADT^A40", "ADT^A47", "ADT^Z99",
                 "MDM^T02", "DFT^P03", "ZZZ^Z01", "ORM", "^O01", "", "ORM^O01^ORM_O01^X", "orm^o01", "ORM~ADT^O01"]
ORDER_CONTROLS = ["NW", "CA", "XO", "SC", "DC", "OC", "HD", "RL", "SN", "CH", "XX", "", "nw", "NW~CA"]


@kind("hl7_message_types", "hl7")
def message_types(rng, seed):
    control = control_id()
    message_type = pick(rng, MESSAGE_TYPES)
    if message_type.startswith("OMI"):
        segments = omi_segments(seed, control)
    elif message_type.startswith("ADT"):
        segments = adt_segments(message_type.split("^")[1], control, patient_id=pick(rng, seed.patient_ids))
        if message_type in ("ADT^A40", "ADT^A34", "ADT^A47", "ADT^A18"):
            segments.append(f"MRG|{pick(rng, seed.patient_ids + ['', 'NOPE'])}^^^HOSP^MR")
    else:
        segments = order_segments(seed, 5, control=control, order_control=pick(rng, ORDER_CONTROLS),
                                  placer=pick(rng, [None, "FZSEED0^FUZZ", "FZSEED1"]))
    fields = segments[0].split("|")
    fields[8] = message_type
    segments[0] = "|".join(fields)
    return hl7_case("hl7_message_types", join(segments), f"{message_type or '(empty MSH-9)'} {segments[3][:6]}")


NASTY = ["", '""', "|", "^^^^", "~~~~", "99999999", "20261345", "2026-12-01", "0", "-1", "1e309", "NaN", "'; DROP TABLE x;--",
         "%s%s%n", "${jndi:x}", "\u202e\u0000", "\t", "A" * 300, "19000101", "30000101", "20260230", "2026031525",
         "202603150930.5+0100", "20260315093000-9999", "M~F~U~X", "CT\\MR", "*", "?", "%", "_"]


@kind("hl7_field_mutation", "hl7")
def field_mutation(rng, seed):
    segments, _ = good_order(rng, seed)
    i = rng.randrange(1, len(segments))
    fields = segments[i].split("|")
    j = rng.randrange(1, len(fields) + 3)
    while len(fields) <= j:
        fields.append("")
    value = pick(rng, NASTY)
    fields[j] = value
    segments[i] = "|".join(fields)
    return hl7_case("hl7_field_mutation", join(segments), f"{segments[i][:3]}-{j} = {value[:20]!r}")


@kind("hl7_msh_mutation", "hl7")
def msh_mutation(rng, seed):
    segments, control = good_order(rng, seed)
    header = pick(rng, ["MSH|^~\\&", "MSH|", "MSH", "MSH#^~\\&", "MSH||~\\&", "MSH|^~\\", "MSH|^^^^", "MSH|^~\\&#",
                        "MSH\x00^~\\&", "MSH|^~\\&|" * 3, "msh|^~\\&", "MSH|\r~\\&", "MSH^|~\\&"])
    version = pick(rng, ["2.3.1", "2.5.1", "2.9", "3.0", "", "2", "99.99.99", "2.3.1~2.5"])
    rest = segments[0].split("|", 2)[2].replace("|2.3.1|", f"|{version}|")
    segments[0] = header + "|" + rest
    return hl7_case("hl7_msh_mutation", join(segments), f"MSH begins {header[:12]!r}, version {version!r}")


@kind("hl7_random_bytes", "hl7")
def random_bytes(rng, seed):
    size = pick(rng, [1, 10, 100, 1000, 20000])
    data = bytes(rng.randrange(256) for _ in range(size))
    while FS + CR in data:
        data = data.replace(FS + CR, b"")
    if rng.random() < 0.5:
        data = b"MSH|^~\\&|" + data
    return hl7_case("hl7_random_bytes", data, f"{size} random bytes in a frame")
