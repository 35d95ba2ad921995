"""Raw PDUs on a bare TCP socket (PS3.8 9.3): broken headers, lengths, types, order, and mutated A-ASSOCIATE-RQs."""
import struct

from bench.fuzz_cases import Case, flip_bytes, kind, pick

APP_CONTEXT = b"1.2.840.10008.3.1.1.1"
VERIFICATION = b"1.2.840.10008.1.1"
IMPLICIT = b"1.2.840.10008.1.2"


def item(kind_byte: int, body: bytes, length: int | None = None) -> bytes:
    return struct.pack(">BBH", kind_byte, 0, len(body) if length is None else length) + body


def presentation_context(context_id=1, abstract=VERIFICATION, syntaxes=(IMPLICIT,)) -> bytes:
    return item(0x20, bytes([context_id, 0, 0, 0]) + item(0x30, abstract) + b"".join(item(0x40, s) for s in syntaxes))


def user_info(max_length=16384, extra=b"") -> bytes:
    return item(0x50, item(0x51, struct.pack(">I", max_length)) + item(0x52, b"1.2.826.0.1.3680043.9.3811.3.0.4")
                + extra)


def associate_rq(called=b"BROKER", calling=b"FUZZ", version=1, items=None) -> bytes:
    items = items if items is not None else [item(0x10, APP_CONTEXT), presentation_context(), user_info()]
    body = struct.pack(">HH", version, 0) + called.ljust(16)[:16] + calling.ljust(16)[:16] + b"\x00" * 32
    body += b"".join(items)
    return pdu(0x01, body)


def pdu(pdu_type: int, body: bytes, length: int | None = None) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body) if length is None else length) + body


def pdu_case(name, chunks: list[bytes], note: str, expect_reply=True) -> Case:
    return Case(name, "pdu", chunks, expect_reply, note)


@kind("pdu_truncated_header", "pdu")
def truncated_header(rng, seed):
    full = associate_rq()
    cut = rng.randint(1, 5)
    return pdu_case("pdu_truncated_header", [full[:cut]], f"first {cut} bytes of an A-ASSOCIATE-RQ header",
                    expect_reply=False)


@kind("pdu_oversized_length", "pdu")
def oversized_length(rng, seed):
    length = pick(rng, [0xFFFFFFFF, 0x7FFFFFFF, 10 * 1024 * 1024, 100000])
    pdu_type = pick(rng, [0x01, 0x04, 0x05])
    body = associate_rq()[6:] if pdu_type == 1 else b"\x00" * 64
    return pdu_case("pdu_oversized_length", [pdu(pdu_type, body, length=length)],
                    f"PDU type 0x{pdu_type:02x} declaring {length} bytes, sending {len(body)}", expect_reply=False)


@kind("pdu_unknown_type", "pdu")
def unknown_type(rng, seed):
    pdu_type = pick(rng, [0x00, 0x08, 0x09, 0x10, 0x7F, 0xFF])
    body = bytes(rng.randrange(256) for _ in range(pick(rng, [0, 4, 64])))
    return pdu_case("pdu_unknown_type", [pdu(pdu_type, body)], f"complete PDU of unknown type 0x{pdu_type:02x}, "
                    f"{len(body)} byte body")


@kind("pdu_out_of_order", "pdu")
def out_of_order(rng, seed):
    name, data = pick(rng, [
        ("P-DATA-TF before association", pdu(0x04, struct.pack(">IB", 6, 1) + b"\x03\x00\x00\x00\x00\x00")),
        ("A-RELEASE-RQ before association", pdu(0x05, b"\x00" * 4)),
        ("A-RELEASE-RP before association", pdu(0x06, b"\x00" * 4)),
        ("A-ASSOCIATE-AC sent to the SCP", pdu(0x02, associate_rq()[6:])),
        ("A-ASSOCIATE-RJ sent to the SCP", pdu(0x03, b"\x00\x01\x01\x01")),
        ("A-ABORT first", pdu(0x07, b"\x00\x00\x00\x00")),
        ("two A-ASSOCIATE-RQs back to back", associate_rq() + associate_rq()),
    ])
    return pdu_case("pdu_out_of_order", [data], name)


@kind("pdu_random_bytes", "pdu")
def random_bytes(rng, seed):
    data = bytes(rng.randrange(256) for _ in range(pick(rng, [6, 20, 200, 2000])))
    declared = struct.unpack(">I", data[2:6])[0]
    # A header that announces more than was sent leaves a correct peer waiting for the rest: not a hang.
    complete = declared <= len(data) - 6
    return pdu_case("pdu_random_bytes", [data], f"{len(data)} random bytes (type 0x{data[0]:02x}, "
                    f"declared {declared})", expect_reply=complete)


def _mutated_rq(rng) -> tuple[bytes, str, bool]:
    choice = rng.randrange(14)
    if choice == 0:
        version = pick(rng, [0, 2, 0xFFFF])
        return associate_rq(version=version), f"protocol version {version}", True
    if choice == 1:
        called = pick(rng, [b"", b" " * 16, b"ANYTHING", b"\x00" * 16, b"BR\xc3\xb6KER", b"broker"])
        return associate_rq(called=called), f"called AE {called!r}", True
    if choice == 2:
        calling = pick(rng, [b"", b" " * 16, b"\x00" * 16, b"\xff" * 16, b"A\\B", b"*"])
        return associate_rq(calling=calling), f"calling AE {calling!r}", True
    if choice == 3:
        context = pick(rng, [b"1.2.3", b"", b"X" * 64, APP_CONTEXT + b"\x00"])
        return associate_rq(items=[item(0x10, context), presentation_context(), user_info()]), \
            f"application context {context[:20]!r}", True
    if choice == 4:
        return associate_rq(items=[item(0x10, APP_CONTEXT), user_info()]), "no presentation context", True
    if choice == 5:
        count = pick(rng, [128, 129, 300])
        contexts = [presentation_context((2 * i + 1) % 256) for i in range(count)]
        return associate_rq(items=[item(0x10, APP_CONTEXT), *contexts, user_info()]), f"{count} presentation contexts", True
    if choice == 6:
        cid = pick(rng, [0, 2, 255])
        return associate_rq(items=[item(0x10, APP_CONTEXT), presentation_context(cid), user_info()]), \
            f"presentation context id {cid}", True
    if choice == 7:
        abstract = pick(rng, [b"", b"1..2", b"X" * 200, b"1.2.840.10008.5.1.4.31\x00\x00", b"\xff\xfe"])
        return associate_rq(items=[item(0x10, APP_CONTEXT), presentation_context(abstract=abstract), user_info()]), \
            f"abstract syntax {abstract[:20]!r}", True
    if choice == 8:
        return associate_rq(items=[item(0x10, APP_CONTEXT), presentation_context(syntaxes=()), user_info()]), \
            "presentation context without a transfer syntax", True
    if choice == 9:
        max_length = pick(rng, [0, 1, 6, 0xFFFFFFFF])
        return associate_rq(items=[item(0x10, APP_CONTEXT), presentation_context(), user_info(max_length)]), \
            f"maximum length {max_length}", True
    if choice == 10:
        lying = item(0x20, presentation_context()[4:], length=pick(rng, [0, 3, 2000]))
        return associate_rq(items=[item(0x10, APP_CONTEXT), lying, user_info()]), "presentation context length lies", True
    if choice == 11:
        extra = item(0x55, b"FUZZ" * pick(rng, [1, 5000])) + item(0x54, b"\x00\x05" + b"1.2.3" + b"\x01\x01")
        return associate_rq(items=[item(0x10, APP_CONTEXT), presentation_context(), user_info(extra=extra)]), \
            "odd user information sub-items", True
    if choice == 12:
        data = associate_rq()
        cut = rng.randrange(7, len(data))
        return data[:cut], f"A-ASSOCIATE-RQ cut after {cut} of {len(data)} bytes", False
    data = associate_rq()
    count = rng.randint(1, 6)
    flipped = data[:6] + flip_bytes(rng, data[6:], count)
    return flipped, f"A-ASSOCIATE-RQ with {count} bits flipped after the header", True


@kind("pdu_assoc_rq_mutated", "pdu")
def assoc_rq_mutated(rng, seed):
    data, note, complete = _mutated_rq(rng)
    return pdu_case("pdu_assoc_rq_mutated", [data], note, expect_reply=complete)


@kind("pdu_bad_pdata", "pdu")
def bad_pdata(rng, seed):
    """A good association (Verification), then a broken P-DATA-TF; a correct peer answers with A-ABORT."""
    choice = rng.randrange(5)
    if choice == 0:
        pdv, note = struct.pack(">IB", 6, 9) + b"\x03\x00\x00\x00\x00", "P-DATA on an unnegotiated context id 9"
    elif choice == 1:
        pdv, note = struct.pack(">IB", 200, 1) + b"\x03" + b"\x00" * 10, "PDV item length past the PDU"
    elif choice == 2:
        pdv, note = struct.pack(">IB", 1, 1), "PDV item of length 1 (no message control header)"
    elif choice == 3:
        pdv = struct.pack(">IB", 20, 1) + b"\x03" + bytes(rng.randrange(256) for _ in range(18))
        note = "command PDV of random bytes"
    else:
        pdv, note = struct.pack(">IB", 10, 1) + b"\x02" + b"\x00" * 8, "data PDV before any command"
    return pdu_case("pdu_bad_pdata", [associate_rq(), pdu(0x04, pdv)], note)
