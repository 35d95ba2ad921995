"""Django lookups for worklist matching, each compiled to the database's own non-backtracking matching.

  dicom_wildcard    SQLite `GLOB` (C), PostgreSQL `LIKE ... ESCAPE '\\'`
  dicom_iwildcard   the same, case-insensitive (SQLite: Unicode lower() both sides, PostgreSQL `ILIKE`)
  dicom_pool        any value of a '\\'-joined pool matches (SQLite: linear matcher in Python;
                    PostgreSQL: `LIKE` on `unnest(string_to_array(...))`)

and the transforms pn_group0/1/2: component group 0/1/2 of a PN value without its trailing `^`
(SQLite: a Python function; PostgreSQL: `rtrim(split_part(value, '=', n), '^')`, no regex), on which
the exact match and the wildcard lookups above then apply.

The value on the right is the DICOM pattern as the modality sent it; the translation and escaping
happen here, at compile time, per database.
"""
from django.db.models import CharField, Lookup, TextField, Transform

from worklist.mwl import wildcard


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def _pool(pattern, stored):
    return wildcard.pool_match(pattern, stored)


def _pn_group(stored, index):
    return wildcard.person_name_group(stored, index)


def _sqlite_functions(compiler) -> None:
    """Register the Python matchers on this SQLite connection (cheap; repeated on every compile)."""
    connection = compiler.connection
    connection.ensure_connection()
    raw = connection.connection
    raw.create_function("broker_lower", 1, _lower, deterministic=True)
    raw.create_function("broker_pool_match", 2, _pool, deterministic=True)
    raw.create_function("broker_pn_group", 2, _pn_group, deterministic=True)


class _DicomLookup(Lookup):
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [value]

    def as_sql(self, compiler, connection):  # other databases: the PostgreSQL spelling (standard SQL)
        return self.as_postgresql(compiler, connection)


class DicomWildcard(_DicomLookup):
    lookup_name = "dicom_wildcard"

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} GLOB %s", [*lhs_params, wildcard.sqlite_glob(self.rhs)]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} LIKE %s ESCAPE '\\'", [*lhs_params, wildcard.like_pattern(self.rhs)]


class DicomIWildcard(_DicomLookup):
    lookup_name = "dicom_iwildcard"

    def as_sqlite(self, compiler, connection):
        _sqlite_functions(compiler)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"broker_lower({lhs}) GLOB %s", [*lhs_params, wildcard.sqlite_glob(self.rhs.lower())]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} ILIKE %s ESCAPE '\\'", [*lhs_params, wildcard.like_pattern(self.rhs)]


class DicomPool(_DicomLookup):
    lookup_name = "dicom_pool"

    def as_sqlite(self, compiler, connection):
        _sqlite_functions(compiler)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"broker_pool_match(%s, {lhs})", [self.rhs, *lhs_params]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        sql = (f"EXISTS (SELECT 1 FROM unnest(string_to_array({lhs}, E'\\\\')) AS pool(one) "
               f"WHERE pool.one LIKE %s ESCAPE '\\')")
        return sql, [*lhs_params, wildcard.like_pattern(self.rhs)]


class PersonNameGroup(Transform):
    """One component group of a PN search key, trailing component delimiters removed."""

    group = 0
    output_field = CharField()

    def as_sqlite(self, compiler, connection):
        _sqlite_functions(compiler)
        lhs, params = compiler.compile(self.lhs)
        return f"broker_pn_group({lhs}, {self.group})", params

    def as_postgresql(self, compiler, connection):
        lhs, params = compiler.compile(self.lhs)
        return f"rtrim(split_part({lhs}, '=', {self.group + 1}), '^')", params

    def as_sql(self, compiler, connection):
        return self.as_postgresql(compiler, connection)


class AlphabeticGroup(PersonNameGroup):
    lookup_name, group = "pn_group0", 0


class IdeographicGroup(PersonNameGroup):
    lookup_name, group = "pn_group1", 1


class PhoneticGroup(PersonNameGroup):
    lookup_name, group = "pn_group2", 2


for _field in (CharField, TextField):
    for _lookup in (DicomWildcard, DicomIWildcard, DicomPool, AlphabeticGroup, IdeographicGroup, PhoneticGroup):
        _field.register_lookup(_lookup)


# Keys inside a JSON list (the protocol codes of a step): compared as text, like Django's own regex.
from django.db.models.fields.json import KeyTransform, KeyTransformTextLookupMixin  # noqa: E402


class KeyTransformDicomWildcard(KeyTransformTextLookupMixin, DicomWildcard):
    pass


class KeyTransformDicomIWildcard(KeyTransformTextLookupMixin, DicomIWildcard):
    pass


KeyTransform.register_lookup(KeyTransformDicomWildcard)
KeyTransform.register_lookup(KeyTransformDicomIWildcard)
