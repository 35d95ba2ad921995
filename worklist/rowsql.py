"""Row-level SQL behind worklist.order_writes.write_new_order (the intake's fast path), and nothing else.

A new-order message's rows (order, procedures, steps, the caller's log row) as one INSERT chain: on
PostgreSQL one statement of CTEs, each row taking its parents' new ids, so sent outside a transaction it
is one round trip and its own commit; on SQLite one INSERT per row. Values are converted by each field's
own `pre_save` / `get_db_prep_save` (Django's Field API), so they are stored as the ORM stores them; the
rows' rules are decided before they get here (worklist.orders, worklist.patients). Only
worklist.order_writes imports this module; tests/test_worklist_order_writes.py compares what it writes
with what the ORM path writes, row by row.
"""
from functools import cache, lru_cache
from operator import attrgetter

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db import connection as default_connection
from django.utils import timezone

# Fields whose Python value is already what the database driver takes: no per-value conversion needed.
_PLAIN = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.FloatField,
          models.ForeignKey)


@cache
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

    def __init__(self, plan: list):
        plain = [attname for _, attname, is_plain, *_ in plan if is_plain]
        self.plain = attrgetter(*plain) if plain else None
        self.single = len(plain) == 1  # attrgetter of one name returns the value, not a tuple
        self.special = [entry for entry in plan if not entry[2]]

    def __call__(self, obj, connection, stamp: tuple) -> list:
        values = [] if self.plain is None else [self.plain(obj)] if self.single else list(self.plain(obj))
        for field, attname, _, stamped, auto in self.special:
            if stamped:
                setattr(obj, attname, stamp[0])
                values.append(stamp[1])
            else:
                value = field.pre_save(obj, True) if auto else getattr(obj, attname)
                values.append(field.get_db_prep_save(value, connection))
        return values


def insert(objs: list) -> list:
    """Insert unsaved model instances of one model and set their primary keys."""
    if not objs:
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    model = type(objs[0])
    _, reader, head, row, pk_column = _shape(model, connection.vendor)
    stamp = _stamp(connection)
    params = []
    for obj in objs:
        params += reader(obj, connection, stamp)
    sql = head + ", ".join([row] * len(objs)) + f" RETURNING {pk_column}"
    ids = [r[0] for r in _execute(connection, sql, params)]
    for obj, pk in zip(objs, ids, strict=True):
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


def _links(link) -> tuple:
    """A row's links to its parents: None, one (parent index, FK attname), or a list of them."""
    if link is None:
        return ()
    return (tuple(link),) if isinstance(link[0], int) else tuple(tuple(one) for one in link)


@cache
def _linked_shape(shape: tuple, vendor: str):
    """One INSERT ... SELECT per row, chained by CTEs: a child row takes its parents' new ids in the statement."""
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
        source = (" FROM " + ", ".join(f"r{i}" for i in sorted(set(parents.values())))) if parents else ""
        ctes.append(f"r{n} AS (INSERT INTO {table} ({', '.join(columns)}) "
                    f"SELECT {', '.join(values)}{source} RETURNING {pk})")
        readers.append(_Reader([p for p in plan if p[1] not in parents]))
    ids = ", ".join(f"(SELECT {quote(model._meta.pk.column)} FROM r{n})" for n, (model, _) in enumerate(shape))
    return "WITH " + ", ".join(ctes) + f" SELECT {ids}", readers


@lru_cache(maxsize=64)
def _qmark(sql: str) -> str:
    return sql.replace("%s", "?")  # the statements here have no literal %


@lru_cache(maxsize=64)
def _numbered(sql: str) -> str:
    parts = sql.split("%s")
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1))


def insert_linked(rows: list[tuple]) -> list:
    """Insert a parent and its descendants: rows of (unsaved instance, link), a link being None, one
    (parent index, FK attname) or a list of them.

    A parent comes before its children. The primary keys (and the foreign keys to the new parents) are set
    on the instances. PostgreSQL writes them all with one statement, SQLite one INSERT per row.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        for obj, link in rows:
            for parent, attname in _links(link):
                setattr(obj, attname, rows[parent][0].pk)
            insert([obj])
        return [obj for obj, _ in rows]
    shape = tuple((type(obj), _links(link)) for obj, link in rows)
    sql, readers = _linked_shape(shape, connection.vendor)
    stamp = _stamp(connection)
    params = []
    for (obj, _), reader in zip(rows, readers, strict=True):
        params += reader(obj, connection, stamp)
    ids = _execute(connection, sql, params)[0]
    for (obj, _), pk in zip(rows, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias
    for obj, link in rows:
        for parent, attname in _links(link):
            setattr(obj, attname, rows[parent][0].pk)
    return [obj for obj, _ in rows]
