"""Row-level SQL for the intake's hot path: INSERT ... RETURNING and a keyed SELECT of one row.

The ORM spends most of a new order's time compiling queries (about 0.3 ms each here) rather than in
the database; orders arrive by the thousand per minute, so their rows are written with one prepared
statement shape per table. Field conversion still goes through each field's own `pre_save` and
`get_db_prep_save`, so values are stored exactly as the ORM would store them.
"""
from functools import lru_cache

from django.db import connection as default_connection
from django.db import models


# Fields whose Python value is already what the database driver takes: no per-value conversion needed.
_PLAIN = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.FloatField,
          models.ForeignKey)


@lru_cache(maxsize=None)
def _shape(model, vendor: str):
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    quote = default_connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    plan = []
    for f in fields:
        stamped = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        plain = isinstance(f, _PLAIN) and not isinstance(f, models.JSONField) and not stamped
        plan.append((f, f.attname, plain, stamped))
    return plan, f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ", row, quote(model._meta.pk.column)


def insert(objs: list, *, conflict_columns: tuple[str, ...] = (), using=None) -> list:
    """Insert unsaved model instances of one model and set their primary keys.

    With `conflict_columns`, rows that collide with an existing row on that unique key are skipped
    (ON CONFLICT DO NOTHING); the instances that were inserted are returned.
    """
    if not objs:
        return []
    connection = using or default_connection
    model = type(objs[0])
    plan, head, row, pk_column = _shape(model, connection.vendor)
    params = []
    for obj in objs:
        for field, attname, plain, stamped in plan:
            if plain:
                params.append(getattr(obj, attname))
            else:
                value = field.pre_save(obj, True) if stamped else getattr(obj, attname)
                params.append(field.get_db_prep_save(value, connection))
    sql = head + ", ".join([row] * len(objs))
    if conflict_columns:
        quote = connection.ops.quote_name
        sql += f" ON CONFLICT ({', '.join(quote(c) for c in conflict_columns)}) DO NOTHING"
    sql += f" RETURNING {pk_column}"
    ids = [r[0] for r in _execute(connection, sql, params)]
    if conflict_columns and len(ids) != len(objs):
        if len(objs) != 1:
            raise ValueError("conflict handling is for one row at a time")
        return []
    for obj, pk in zip(objs, ids):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


def _execute(connection, sql: str, params: list) -> list:
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    # PostgreSQL: a server-binding cursor with a prepared statement. Django's default cursor binds client-side,
    # so the server parses and plans each INSERT again; these few statement shapes run for every message.
    import psycopg

    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


@lru_cache(maxsize=None)
def _select_shape(model, key_columns: tuple[str, ...], vendor: str):
    fields = list(model._meta.concrete_fields)
    quote = default_connection.ops.quote_name
    where = " AND ".join(f"{quote(c)} = %s" for c in key_columns)
    sql = f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(model._meta.db_table)} WHERE {where}"
    converters = []
    for field in fields:
        col = field.get_col(model._meta.db_table)
        converters.append(default_connection.ops.get_db_converters(col) + field.get_db_converters(default_connection))
    return fields, sql, converters


def fetch_one(model, **key):
    """The one row with this unique key as a model instance (None when absent), converted as the ORM would."""
    connection = default_connection
    columns = tuple(key)
    fields, sql, converters = _select_shape(model, columns, connection.vendor)
    rows = _execute(connection, sql, [key[c] for c in columns])
    if not rows:
        return None
    row = rows[0]
    values = []
    for field, value, field_converters in zip(fields, row, converters):
        for converter in field_converters:
            value = converter(value, field.get_col(model._meta.db_table), connection)
        values.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], values)
