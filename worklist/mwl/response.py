"""Step → response Dataset: exactly the requested keys, in the requested nesting (PS3.4 K.4.1.1.3.2, K.2.2.1.2).

A key the broker has no value for is returned empty; type 1 keys always get a value; a zero-length
sequence or one with an empty item asks for the whole sequence.
"""
from pydicom import Dataset
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.sequence import Sequence

from worklist.mwl.charset import fit_value
from worklist.mwl.keys import SPS_KEYS, TOP_KEYS

# Never echoed back as keys; (0008,0005) is set from the response's own character set.
NOT_RETURNED = {"SpecificCharacterSet", "TimezoneOffsetFromUTC", "QueryRetrieveLevel"}


def build_response(identifier: Dataset, step, *, charsets: list[str], request_had_charset: bool = False) -> Dataset:
    state = {"non_ascii": False}
    ds = Dataset()
    for elem in identifier:
        if elem.tag.element == 0 or elem.tag.is_private or elem.keyword in NOT_RETURNED:
            continue
        if elem.keyword == "ScheduledProcedureStepSequence":
            asked = first_item(elem)
            item = _item_from(SPS_KEYS, asked, step, charsets, state)
            ds.add_new(elem.tag, "SQ", Sequence([item]))
            continue
        key = TOP_KEYS.get(elem.keyword)
        if key is None:
            ds.add_new(elem.tag, elem.VR, [] if elem.VR == "SQ" else None)
            continue
        _add(ds, elem.tag, elem.VR, key, step, elem, charsets, state)
    if state["non_ascii"] or request_had_charset:
        ds.SpecificCharacterSet = charsets if len(charsets) > 1 else charsets[0]
    return ds


def first_item(elem) -> Dataset | None:
    """The one item a query key asks inside a sequence, or None for a universal (empty) sequence."""
    items = list(elem.value or [])
    return items[0] if items and len(items[0]) else None


def _item_from(keys: dict, asked: Dataset | None, step, charsets, state) -> Dataset:
    item = Dataset()
    if asked is None:
        for keyword, key in keys.items():
            tag = tag_for_keyword(keyword)
            _add(item, tag, dictionary_VR(tag), key, step, None, charsets, state)
        return item
    for elem in asked:
        if elem.tag.element == 0 or elem.tag.is_private:
            continue
        key = keys.get(elem.keyword)
        if key is None:
            item.add_new(elem.tag, elem.VR, [] if elem.VR == "SQ" else None)
            continue
        _add(item, elem.tag, elem.VR, key, step, elem, charsets, state)
    return item


def _add(ds: Dataset, tag, vr: str, key, step, asked_elem, charsets, state) -> None:
    value = key.get(step)
    if (value is None or value == "" or value == []) and key.fallback is not None:
        value = key.fallback(step)
    if vr == "SQ" or isinstance(value, list):
        asked = first_item(asked_elem) if asked_elem is not None else None
        items = []
        for entry in value or []:
            item = Dataset()
            wanted = [e.keyword for e in asked] if asked is not None else list(entry)
            for keyword in wanted:
                sub_tag = tag_for_keyword(keyword)
                if sub_tag is None:
                    continue
                sub_vr = dictionary_VR(sub_tag)
                item.add_new(sub_tag, sub_vr, fitted_text(entry.get(keyword, ""), sub_vr, charsets, state) or None)
            items.append(item)
        ds.add_new(tag, "SQ", Sequence(items))
        return
    if vr == "US" and isinstance(value, str):
        value = None
    if vr == "AE" and isinstance(value, str) and "\\" in value:
        value = value.split("\\")
    ds.add_new(tag, vr, fitted_text(value, vr, charsets, state) if value not in (None, "") else None)


def fitted_text(value, vr, charsets, state):
    """`value` fitted to the response's character set; marks `state` when the answer must declare it."""
    if isinstance(value, str) and not value.isascii():
        value = fit_value(value, vr, charsets)
        if not value.isascii():
            state["non_ascii"] = True
    return value
