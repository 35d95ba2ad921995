"""ISO 2022 code extensions and the choice of a response's character set, as tables (pure functions).

The expected bytes of the Japanese and Korean names are the examples of PS3.5 Annex H and Annex I
(tests.mwl.support).
"""
import pytest

from tests.mwl.support import ESC, JAPANESE, JAPANESE_BYTES, KOREAN, KOREAN_BYTES, TO_ASCII, TO_JIS, TO_ROMAJI
from worklist.mwl import iso2022
from worklist.mwl.charset import fit_person_name, fits, response_charset, transliterate

IR6_IR87 = ["ISO 2022 IR 6", "ISO 2022 IR 87"]


@pytest.mark.parametrize("text, charsets, expected", [
    (JAPANESE, ["", "ISO 2022 IR 87"], JAPANESE_BYTES),
    (JAPANESE, IR6_IR87, JAPANESE_BYTES),
    (KOREAN, ["", "ISO 2022 IR 149"], KOREAN_BYTES),
    ("DOE^JOHN", IR6_IR87, b"DOE^JOHN"),
    ("山田太郎", IR6_IR87, TO_JIS + bytes.fromhex("3b33454442404f3a") + TO_ASCII),
    ("山田 太郎", IR6_IR87, TO_JIS + bytes.fromhex("3b334544") + TO_ASCII + b" " + TO_JIS + bytes.fromhex("42404f3a")
     + TO_ASCII),
    ("CT\\山", IR6_IR87, b"CT\\" + TO_JIS + bytes.fromhex("3b33") + TO_ASCII),
    ("Müller=山田", ["ISO 2022 IR 100", "ISO 2022 IR 87"], b"M\xfcller=" + TO_JIS + bytes.fromhex("3b334544") + TO_ASCII),
    ("山田ü", ["ISO 2022 IR 100", "ISO 2022 IR 87"], TO_JIS + bytes.fromhex("3b334544") + b"\xfc" + TO_ASCII),
    ("ﾔﾏﾀﾞ^ﾀﾛｳ=山田", ["ISO 2022 IR 13", "ISO 2022 IR 87"],
     bytes.fromhex("d4cfc0de") + b"^" + bytes.fromhex("c0dbb3") + b"=" + TO_JIS + bytes.fromhex("3b334544") + TO_ROMAJI),
    ("Dvořák", ["ISO 2022 IR 6", "ISO 2022 IR 100", "ISO 2022 IR 101"],
     b"Dvo" + ESC + b"-B\xf8\xe1k"),  # á is in Latin-2 too: no switch back
    ("Ωmega", ["ISO 2022 IR 6", "ISO 2022 IR 126"], ESC + b"-F\xd9mega"),
])
def test_it_writes_iso_2022_escape_sequences_as_ps3_5_shows(text, charsets, expected):
    assert iso2022.encode_value(text, charsets) == expected


@pytest.mark.parametrize("text", [JAPANESE, "山田^太郎", "=山田^太郎=やまだ^たろう", "ヤマダ^タロウ", "CT 頭部 単純"])
def test_it_writes_ir_87_answers_that_pythons_iso2022_jp_codec_reads_back(text):
    assert iso2022.encode_value(text, IR6_IR87).decode("iso2022_jp") == text


@pytest.mark.parametrize("text", [JAPANESE, "山田 太郎^=X", "Müller=山田^ü"])
def test_it_is_back_in_the_initial_set_before_every_delimiter_and_at_the_end(text):
    charsets = ["ISO 2022 IR 100", "ISO 2022 IR 87"]
    data = iso2022.encode_value(text, charsets)
    g0, position = "ascii", 0
    while position < len(data):
        if data[position:position + 1] == ESC:
            g0 = {b"$B": "jis", b"(B": "ascii"}.get(data[position + 1:position + 3], g0)
            position += 3
            continue
        if data[position] in b"^=\\":
            assert g0 == "ascii", f"delimiter at {position} read in {g0}"
        position += 1 if g0 == "ascii" or data[position] >= 0x80 else 2
    assert g0 == "ascii"


@pytest.mark.parametrize("text, charsets", [
    ("Müller", IR6_IR87), ("ﾔﾏﾀﾞ", IR6_IR87), ("ﾔ", ["ISO 2022 IR 6", "ISO 2022 IR 149"]),
    ("山\x1b$B", IR6_IR87),  # ESC is not text: it would switch sets behind the encoder's back
])
def test_it_refuses_a_character_none_of_the_sets_holds(text, charsets):
    with pytest.raises(UnicodeEncodeError):
        iso2022.encode_value(text, charsets)


@pytest.mark.parametrize("text, charsets, expected", [
    ("Müller^Jürgen", IR6_IR87, "Muller^Jurgen"),  # ISO 2022 IR 6 is ASCII: no Latin-1 byte without ESC - A
    ("ﾔﾏﾀﾞ^ﾀﾛｳ", IR6_IR87, "ヤマダ^タロウ"),  # half-width katakana is not in JIS X 0208: the full-width forms
    ("Dvořák", ["ISO 2022 IR 100", "ISO 2022 IR 87"], "Dvorák"),
    ("Dvořák", ["ISO 2022 IR 6", "ISO 2022 IR 100", "ISO 2022 IR 101"], "Dvořák"),
    ("山田", IR6_IR87, "山田"),
    ("ก", ["", "ISO 2022 IR 149"], "?"),  # Thai: in none of the sets, no romanisation
    ("Straße", ["", "ISO 2022 IR 87"], "Strasse"),
])
def test_it_transliterates_what_the_code_extensions_cannot_carry(text, charsets, expected):
    assert transliterate(text, charsets) == expected
    assert fits(expected, charsets)


@pytest.mark.parametrize("name, charsets, expected", [
    (JAPANESE, IR6_IR87, JAPANESE),
    ("Müller^Jürgen=ミュラー", IR6_IR87, "Muller^Jurgen=ミュラー"),
    ("Somchai=สมชาย", IR6_IR87, "Somchai"),
])
def test_it_fits_person_names_into_code_extensions(name, charsets, expected):
    assert fit_person_name(name, charsets) == expected


@pytest.mark.parametrize("configured, requested, expected, source", [
    ("", None, ["ISO_IR 192"], "default"),
    ("", "ISO_IR 100", ["ISO_IR 100"], "query"),
    ("", ["ISO 2022 IR 6", "ISO 2022 IR 87"], ["ISO 2022 IR 6", "ISO 2022 IR 87"], "query"),
    ("", ["", "ISO 2022 IR 87"], ["", "ISO 2022 IR 87"], "query"),
    ("", "", ["ISO_IR 192"], "default"),
    ("ISO_IR 100", "ISO_IR 192", ["ISO_IR 100"], "AE"),
    ("ISO 2022 IR 6\\ISO 2022 IR 87", None, ["ISO 2022 IR 6", "ISO 2022 IR 87"], "AE"),
    ("latin1", "ISO_IR 100", ["ISO_IR 100"], "query"),
    ("", "ISO_IR 999", ["ISO_IR 192"], "default"),
])
def test_it_answers_in_the_ae_charset_else_the_querys_else_the_default(configured, requested, expected, source):
    chosen = response_charset(configured, requested, "ISO_IR 192")
    assert (chosen.charsets, chosen.source) == (expected, source)


@pytest.mark.parametrize("configured, requested", [("latin1", None), ("", "ISO_IR 999")])
def test_it_names_the_character_set_it_passed_over(configured, requested):
    assert response_charset(configured, requested, "ISO_IR 192").refused == (configured or requested)
