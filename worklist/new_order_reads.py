"""What the fast path for new orders reads before it writes, in one statement: the stored patient, and whether
any key the message's new orders carry may be taken.

The plain way is `patients.find_patient` and `orders.check_new_order_keys`: two or three ORM queries, each
compiled by Django on every message (on a slow machine compiling costs ten times running the query) and each a
round trip. This read is one raw statement, one round trip. Its key test is deliberately wider than the plain
check (any order with the placer number, accession or filler number, any procedure with the Study Instance UID,
whoever the patient): when it says a key may be taken, the caller runs the plain check, which decides exactly
and names the field. So it can only send a message the long way, never let a taken key through.
Measured in docs/benchmarks.md (HL7 side by side); differential tests against the plain reads:
tests/hl7/test_new_order_reads.py (case by case) and tests/hl7/test_worklist_order_writes.py (a whole feed).
"""
from django.db import connection

from worklist.hl7map.fields import OrderMessage
from worklist.hl7map.orders import ORDER_CONTROL
from worklist.models import ImagingOrder, Patient, RequestedProcedure


def _name(model, field: str | None = None) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column if field else model._meta.db_table)


def _key_test(message: OrderMessage) -> tuple[str, list]:
    """SQL that is true when a key of the message's new orders may be taken (see the module docstring)."""
    new = [f for f in message.orders if ORDER_CONTROL[f.order_control] == "new"]
    order_terms, params = [], []
    for f in new:
        if f.placer_order_number:
            order_terms.append(f"({_name(ImagingOrder, 'placer_order_number')} = %s AND "
                               f"{_name(ImagingOrder, 'placer_issuer')} = %s)")
            params += [f.placer_order_number, f.placer_issuer]
    for column, values in (("accession_number", [f.accession_number for f in new if f.accession_number]),
                           ("filler_order_number", [f.filler_order_number for f in new if f.filler_order_number])):
        if values:
            order_terms.append(f"{_name(ImagingOrder, column)} IN ({', '.join(['%s'] * len(values))})")
            params += values
    tests = []
    if order_terms:
        tests.append(f"EXISTS (SELECT 1 FROM {_name(ImagingOrder)} WHERE {' OR '.join(order_terms)})")
    uids = [p.study_instance_uid for f in new for p in f.procedures if p.study_instance_uid]
    if uids:
        tests.append(f"EXISTS (SELECT 1 FROM {_name(RequestedProcedure)} WHERE "
                     f"{_name(RequestedProcedure, 'study_instance_uid')} IN ({', '.join(['%s'] * len(uids))}))")
        params += uids
    return (" OR ".join(tests) if tests else "1 = 0"), params


def _patient_columns() -> tuple[list, str]:
    """Patient's concrete fields and their columns as `p.col, …`, in the order Model.from_db takes them."""
    fields = Patient._meta.concrete_fields
    return fields, ", ".join(f"p.{connection.ops.quote_name(f.column)}" for f in fields)


def _converters(fields) -> list[tuple[int, list, object]]:
    """What Django applies to each column read (the backend's, then the field's): a JSON text parsed, a SQLite
    decimal or date made one. Once per connection vendor; the same calls the ORM's compiler makes."""
    key = connection.vendor
    if key not in _CONVERTERS:
        found = []
        for n, field in enumerate(fields):
            column = field.get_col(Patient._meta.db_table)
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if converters:
                found.append((n, converters, column))
        _CONVERTERS[key] = found
    return _CONVERTERS[key]


_CONVERTERS: dict[str, list] = {}


def patient_and_key_check(message: OrderMessage) -> tuple[Patient | None, bool]:
    """(the stored patient of the message or None, True when a key may be taken: run the plain check)."""
    key_sql, key_params = _key_test(message)
    fields, columns = _patient_columns()
    sql = (f"SELECT CASE WHEN {key_sql} THEN 1 ELSE 0 END, {columns} "
           f"FROM (SELECT 1 AS one) AS one LEFT JOIN {_name(Patient)} AS p "
           f"ON p.{_name(Patient, 'patient_id')} = %s AND p.{_name(Patient, 'issuer_of_patient_id')} = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*key_params, message.patient.patient_id, message.patient.issuer_of_patient_id])
        key_may_be_taken, *values = cursor.fetchone()
    if values[0] is None:  # the id: no such patient
        return None, bool(key_may_be_taken)
    for n, converters, column in _converters(fields):
        for converter in converters:
            values[n] = converter(values[n], column, connection)
    return Patient.from_db(connection.alias, [f.attname for f in fields], values), bool(key_may_be_taken)
