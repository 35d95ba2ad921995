"""Writing new orders' rows: the one place the worklist's order, procedure and step rows are inserted.

Two ways, one set of rows (built by worklist.orders from the mapped message, rules applied there):

- `write_new_orders` — the ORM, inside the caller's transaction (the intake's): one `bulk_create` per
  table (orders, then their requested procedures, then their steps), parents before children so each
  child takes its parent's new id. Every database, every message the statement below does not take.
- `write_new_order` — the fast path, kept because the ORM path does not hold the ingest bound on
  PostgreSQL (docs/benchmarks.md, HL7 section, has the side-by-side measurement): a message whose
  patient exists and is left unchanged is written with its log row as one statement (worklist.rowsql,
  a chain of CTEs), outside any transaction, so on PostgreSQL it is its own durable commit. It decides
  nothing: the caller has applied every rule (patient found, not merged, nothing to update, keys free).

`tests/hl7/test_worklist_order_writes.py` sends the same feed through both ways and compares every row.
"""
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction

from worklist import rowsql
from worklist.models import ImagingOrder, RequestedProcedure, ScheduledProcedureStep


@dataclass
class NewProcedure:
    procedure: RequestedProcedure
    steps: list[ScheduledProcedureStep] = field(default_factory=list)


@dataclass
class NewOrder:
    """An unsaved order with its unsaved requested procedures and their steps."""

    order: ImagingOrder
    procedures: list[NewProcedure] = field(default_factory=list)


def write_new_orders(new_orders: list[NewOrder]) -> None:
    """Insert the orders, their procedures and steps through the ORM (in the caller's transaction)."""
    if new_orders:
        ImagingOrder.objects.bulk_create([new.order for new in new_orders])
    write_procedures([(new.order, new.procedures) for new in new_orders])


def write_procedures(groups: list[tuple[ImagingOrder, list[NewProcedure]]]) -> None:
    """Insert requested procedures (and their steps) of saved orders through the ORM."""
    procedures = []
    for order, new_procedures in groups:
        for new in new_procedures:
            new.procedure.order = order
            procedures.append(new)
    if not procedures:
        return
    RequestedProcedure.objects.bulk_create([new.procedure for new in procedures])
    steps = []
    for new in procedures:
        for step in new.steps:
            step.requested_procedure = new.procedure
            steps.append(step)
    ScheduledProcedureStep.objects.bulk_create(steps)


def one_statement_enabled() -> bool:
    return settings.BROKER_HL7_ORDER_WRITES == "statement"


def write_new_order(new_orders: list[NewOrder], also: list) -> bool:
    """The fast path: the orders (of a saved patient, already on each order), their procedures and steps, and
    `also` (unsaved rows with an order_id, set to the first order's) in one statement.

    Outside a transaction it is its own commit on PostgreSQL; inside one (a replay, the tests) it runs in
    a savepoint; on SQLite it is one INSERT per row in a transaction. False when a unique key was taken
    meanwhile by another connection: nothing is written and the caller takes the ORM path, which meets
    the key again and answers it.
    """
    rows = []
    for new in new_orders:
        order_row = len(rows)
        rows.append((new.order, None))
        for proc in new.procedures:
            proc_row = len(rows)
            rows.append((proc.procedure, (order_row, "order_id")))
            rows += [(step, (proc_row, "requested_procedure_id")) for step in proc.steps]
    rows += [(obj, (0, "order_id")) for obj in also]
    connection = connections[DEFAULT_DB_ALIAS]
    one_statement = connection.vendor == "postgresql" and not connection.in_atomic_block
    # Inside a caller's transaction a failed statement must not end it: a savepoint then.
    scope = nullcontext() if one_statement else transaction.atomic()
    try:
        with scope:
            rowsql.insert_linked(rows)
    except IntegrityError:
        for obj, _ in rows:
            obj.pk = None
        return False
    return True
