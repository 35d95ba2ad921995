"""Row-level SQL for the intake's hot path: INSERT ... RETURNING and a keyed SELECT of one row.

The ORM spends most of a new order's time compiling queries (about 0.3 ms each here) rather than in
the database; orders arrive by the thousand per minute, so their rows are written with one prepared
statement shape per table. Field conversion still goes through each field's own `pre_save` and
`get_db_prep_save`, so values are stored exactly as the ORM would store them.

Each statement also costs a round trip and psycopg's own per-statement work, so on PostgreSQL a new-order
message is one statement (`insert_linked`, a chain of CTEs): the patient's upsert, the order, its
procedures and steps, and the caller's log row; sent outside a transaction it is also its own commit.
"""
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter

from django.db import DEFAULT_DB_ALIAS, connections
from django.db import connection as default_connection
from django.db import models
from django.utils import timezone


# Fields whose Python value is already what the database driver takes: no per-value conversion needed.
_PLAIN = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.FloatField,
          models.ForeignKey)


@lru_cache(maxsize=None)
def _shape(model, vendor: str):
    quote = default_connection.ops.quote_name
    plan = []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        auto = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        # created_at / updated_at: one clock reading per statement, converted once (as pre_save would set it).
        stamped = auto and isinstance(f, models.DateTimeField)
        plain = isinstance(f, _PLAIN) and not isinstance(f, models.JSONField) and not auto
        plan.append((f, f.attname, plain, stamped, auto))
    plan.sort(key=lambda entry: not entry[2])  # plain fields first: _Reader takes them with one attrgetter call
    columns = ", ".join(quote(entry[0].column) for entry in plan)
    row = "(" + ", ".join(["%s"] * len(plan)) + ")"
    return (plan, _Reader(plan), f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ", row,
            quote(model._meta.pk.column))


class _Reader:
    """The values of a plan (plain fields first) from one instance, as the database driver takes them."""

    def __init__(self, plan: list, extra: tuple[str, ...] = ()):
        plain = [attname for _, attname, is_plain, *_ in plan if is_plain]
        self.plain = attrgetter(*plain) if plain else None
        self.single = len(plain) == 1  # attrgetter of one name returns the value, not a tuple
        self.special = [entry for entry in plan if not entry[2]]
        self.extra = extra  # more plain attributes after the plan's values (an upsert's key, read again)

    def __call__(self, obj, connection, stamp: tuple) -> list:
        values = [] if self.plain is None else [self.plain(obj)] if self.single else list(self.plain(obj))
        for field, attname, _, stamped, auto in self.special:
            if stamped:
                setattr(obj, attname, stamp[0])
                values.append(stamp[1])
            else:
                value = field.pre_save(obj, True) if auto else getattr(obj, attname)
                values.append(field.get_db_prep_save(value, connection))
        for attname in self.extra:
            values.append(getattr(obj, attname))
        return values


@lru_cache(maxsize=None)
def _constructor(model) -> tuple:
    return tuple((f.attname, f.get_default) for f in model._meta.concrete_fields)


def new(model, **values):
    """An unsaved instance from attribute names (`order_id`, not `order`), built with positional arguments as
    Model.from_db does: Django's keyword path costs about four times as much, for each of a message's rows."""
    args = [values.pop(attname) if attname in values else default() for attname, default in _constructor(model)]
    if values:
        raise TypeError(f"{model.__name__} has no fields {', '.join(values)}")
    return model(*args)


def insert(objs: list, *, conflict_columns: tuple[str, ...] = (), using=None) -> list:
    """Insert unsaved model instances of one model and set their primary keys.

    With `conflict_columns`, rows that collide with an existing row on that unique key are skipped
    (ON CONFLICT DO NOTHING); the instances that were inserted are returned.
    """
    if not objs:
        return []
    connection = using or connections[DEFAULT_DB_ALIAS]
    model = type(objs[0])
    _, reader, head, row, pk_column = _shape(model, connection.vendor)
    stamp = _stamp(connection)
    params = []
    for obj in objs:
        params += reader(obj, connection, stamp)
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
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    if connection.vendor == "sqlite":
        # The driver's own cursor: Django's wrapper rewrites every statement's %s to ? with a regex.
        with connection.wrap_database_errors:
            cursor = connection.connection.cursor()
            try:
                cursor.execute(_qmark(sql), params)
                return cursor.fetchall()
            finally:
                cursor.close()
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    # PostgreSQL: a server-binding cursor with a prepared statement. Django's default cursor binds client-side,
    # so the server parses and plans each INSERT again; these few statement shapes run for every message.
    # The statement goes with $n placeholders through a RawCursor: psycopg caches its own %s parsing only for
    # statements under 4 KB and 50 parameters, and a new order's statement is longer.
    import psycopg

    pg = connection.connection
    with connection.wrap_database_errors, psycopg.RawCursor(pg) as cursor:
        cursor.execute(_numbered(sql), params, prepare=True)
        return cursor.fetchall()


def _stamp(connection) -> tuple:
    now = timezone.now()
    return now, connection.ops.adapt_datetimefield_value(now)


@dataclass(frozen=True)
class Upsert:
    """How the first row of insert_linked meets an existing row with the same unique key (PostgreSQL).

    The existing row is updated with `assignments` (EXCLUDED is the proposed row) when `usable` and `changed`
    hold, used as it is when only `usable` holds; when it is not usable nothing at all is written.
    """

    conflict: tuple[str, ...]  # the columns of the unique key
    assignments: str  # the SET list of ON CONFLICT DO UPDATE
    changed: str
    usable: str


def _links(link) -> tuple:
    """A row's links to its parents: None, one (parent index, FK attname), or a list of them."""
    if link is None:
        return ()
    return (tuple(link),) if isinstance(link[0], int) else tuple(tuple(one) for one in link)


@lru_cache(maxsize=None)
def _linked_shape(shape: tuple, vendor: str, upsert: Upsert | None = None):
    """One INSERT ... SELECT per row, chained by CTEs: a child row takes its parents' new ids in the statement.

    With `upsert`, the first row is an INSERT ... ON CONFLICT DO UPDATE; when it yields no usable row, no
    row that depends on it is inserted and its id is returned as None.
    """
    quote = default_connection.ops.quote_name
    ctes, readers = [], []
    for n, (model, links) in enumerate(shape):
        plan = _shape(model, vendor)[0]
        table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
        parents = {attname: parent for parent, attname in links}
        columns, values = [], []
        for field, attname, *_ in plan:
            columns.append(quote(field.column))
            if attname in parents:
                values.append(f"r{parents[attname]}.{quote(shape[parents[attname]][0]._meta.pk.column)}")
                continue
            # Parameters in a SELECT list need a type; text for strings keeps the column's own length check.
            textual = isinstance(field, (models.CharField, models.TextField))
            cast = "text" if textual else field.db_type(default_connection)
            values.append(f"CAST(%s AS {cast})")
        row_plan = [p for p in plan if p[1] not in parents]
        if n == 0 and upsert is not None:
            key = [next(p for p in plan if p[0].column == column) for column in upsert.conflict]
            usable = f"{upsert.usable} AND NOT EXISTS (SELECT FROM r0_new)"
            ctes.append(f"r0_new AS (INSERT INTO {table} ({', '.join(columns)}) "
                        f"VALUES ({', '.join(['%s'] * len(plan))}) "
                        f"ON CONFLICT ({', '.join(quote(c) for c in upsert.conflict)}) DO UPDATE SET "
                        f"{upsert.assignments} WHERE {upsert.usable} AND ({upsert.changed}) RETURNING {pk})")
            # An existing row left as it was is not returned by the upsert: read it (when it may be used).
            ctes.append(f"r0 AS (SELECT {pk} FROM r0_new UNION ALL SELECT {pk} FROM {table} WHERE "
                        + " AND ".join(f"{quote(c)} = %s" for c in upsert.conflict) + f" AND {usable})")
            readers.append(_Reader(row_plan, tuple(entry[1] for entry in key)))
            continue
        source = (" FROM " + ", ".join(f"r{i}" for i in sorted(set(parents.values())))) if parents else ""
        ctes.append(f"r{n} AS (INSERT INTO {table} ({', '.join(columns)}) "
                    f"SELECT {', '.join(values)}{source} RETURNING {pk})")
        readers.append(_Reader(row_plan))
    ids = ", ".join(f"(SELECT {quote(model._meta.pk.column)} FROM r{n})" for n, (model, _) in enumerate(shape))
    return "WITH " + ", ".join(ctes) + f" SELECT {ids}", readers


@lru_cache(maxsize=64)
def _qmark(sql: str) -> str:
    return sql.replace("%s", "?")  # the statements here have no literal %


@lru_cache(maxsize=64)
def _numbered(sql: str) -> str:
    parts = sql.split("%s")
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1))


def insert_linked(rows: list[tuple], upsert: Upsert | None = None) -> list | None:
    """Insert a parent and its descendants: rows of (unsaved instance, link), a link being None, one
    (parent index, FK attname) or a list of them.

    A parent comes before its children. The primary keys (and the foreign keys to the new parents) are set
    on the instances. PostgreSQL writes them all with one statement, SQLite one INSERT per row. With `upsert`
    (PostgreSQL only), the first row may meet an existing one (see Upsert); when that one is not usable,
    nothing is written and None is returned.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        if upsert is not None:
            raise ValueError("an upsert head is for PostgreSQL")
        for obj, link in rows:
            for parent, attname in _links(link):
                setattr(obj, attname, rows[parent][0].pk)
            insert([obj])
        return [obj for obj, _ in rows]
    shape = tuple((type(obj), _links(link)) for obj, link in rows)
    sql, readers = _linked_shape(shape, connection.vendor, upsert)
    stamp = _stamp(connection)
    params = []
    for (obj, _), reader in zip(rows, readers):
        params += reader(obj, connection, stamp)
    ids = _execute(connection, sql, params)[0]
    if ids[0] is None:
        return None
    for (obj, link), pk in zip(rows, ids):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias
    for obj, link in rows:
        for parent, attname in _links(link):
            setattr(obj, attname, rows[parent][0].pk)
    return [obj for obj, _ in rows]


@lru_cache(maxsize=None)
def _select_shape(model, key_columns: tuple[str, ...], vendor: str):
    fields = list(model._meta.concrete_fields)
    quote = default_connection.ops.quote_name
    where = " AND ".join(f"{quote(c)} = %s" for c in key_columns)
    sql = f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(model._meta.db_table)} WHERE {where}"
    converters = []  # (column index, expression, converters) for the columns that need converting
    for n, field in enumerate(fields):
        col = field.get_col(model._meta.db_table)
        field_converters = default_connection.ops.get_db_converters(col) + field.get_db_converters(default_connection)
        if field_converters:
            converters.append((n, col, field_converters))
    return [f.attname for f in fields], sql, converters


def fetch_one(model, **key):
    """The one row with this unique key as a model instance (None when absent), converted as the ORM would."""
    connection = connections[DEFAULT_DB_ALIAS]
    columns = tuple(key)
    attnames, sql, converters = _select_shape(model, columns, connection.vendor)
    rows = _execute(connection, sql, [key[c] for c in columns])
    if not rows:
        return None
    values = list(rows[0])
    for n, col, field_converters in converters:
        for converter in field_converters:
            values[n] = converter(values[n], col, connection)
    return model.from_db(connection.alias, attnames, values)
