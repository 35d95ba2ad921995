"""Person-name search keys: case- and accent-insensitive, delimiters kept."""
import pytest

from worklist.names import search_key


@pytest.mark.parametrize("stored, key", [
    ("Müller^Jürgen", "MULLER^JURGEN"),
    ("Łukasz^Wójcik", "LUKASZ^WOJCIK"),
    ("Strauß^Ørjan", "STRAUSS^ORJAN"),
    ("Æbelø^Œdipe", "AEBELO^OEDIPE"),
    ("Yamada^Tarou=山田^太郎=やまだ^たろう", "YAMADA^TAROU=山田^太郎=やまだ^たろう"),
    ("ﾔﾏﾀﾞ^ﾀﾛｳ", "ヤマダ^タロウ"),
    ("", ""),
])
def test_it_folds_case_and_accents(stored, key):
    assert search_key(stored) == key
