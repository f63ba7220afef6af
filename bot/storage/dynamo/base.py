"""What every part of `DynamoStore` shares: the table, the schema check and `unit_of_work`.

DynamoDB has no transaction spanning several calls with reads in between (TransactWriteItems takes writes
known in advance), so a unit of work here is weaker than SQL's, in one precise way: every store call is atomic
on its own (the multi-item ones are one TransactWriteItems), and inside a unit the writes that *commit* a
unit's outcome are deferred to its successful end, in order:

* the message's state (`finish_message`, `schedule_retry`): while a unit that handles a message fails midway,
  the message stays `pending` under its lease and is retried; everything written before it in the unit is
  idempotent on retry (`save_meal` by message id, `enqueue_outbound` by (sid, kind), photo reservations by
  `set_photos_reserved`) or an over-count we accept and document: a usage counter or an event written twice
  after a crash (a person is charged one message too many, never one too few);
* the Stripe event id (`add_stripe_event`): checked when called (a redelivery seen before is refused at once),
  written only when the change it guards was applied; a crash midway leaves it unwritten so Stripe's
  redelivery applies the change again (the change is a full snapshot of the subscription, so applying it
  twice gives the same state).

An exception inside the unit drops its deferred writes: the message stays pending, the event id unwritten.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from bot.storage.dynamo.table import DynamoTable

# The deferred writes of the unit of work open in this context (thread or task), and the store that opened it.
_UNIT: ContextVar[tuple[object, list] | None] = ContextVar("bot_dynamo_unit_of_work", default=None)


class SchemaMissing(RuntimeError):
    """The table is not there (or not ACTIVE): `python -m bot.admin create-tables` makes it."""


class DynamoBase:
    def __init__(self, url: str):
        self.table = DynamoTable(url)

    # a unit of work: see the module docstring
    @contextmanager
    def unit_of_work(self):
        unit = _UNIT.get()
        if unit is not None and unit[0] is self:
            yield
            return
        deferred: list = []
        token = _UNIT.set((self, deferred))
        try:
            yield
        finally:
            _UNIT.reset(token)
        for write in deferred:  # reached only when the block raised nothing
            write()

    def _commit_point(self, write) -> None:
        """Run `write` now, or at the successful end of the unit of work open on this store."""
        unit = _UNIT.get()
        if unit is not None and unit[0] is self:
            unit[1].append(write)
        else:
            write()

    def create_schema(self) -> None:
        """Check the table is there: the bot never creates it (its IAM policy has no CreateTable)."""
        try:
            status = self.table.describe()["TableStatus"]
        except self.table.client.exceptions.ResourceNotFoundException as error:
            raise SchemaMissing(
                f"DynamoDB table {self.table.name!r} does not exist: run `python -m bot.admin create-tables`"
            ) from error
        if status not in ("ACTIVE", "UPDATING"):
            raise SchemaMissing(f"DynamoDB table {self.table.name!r} is {status}, not ACTIVE")

    def create_tables(self) -> bool:
        """Create the table, indexes and TTL (idempotent); True when it was created now."""
        return self.table.create()

    def ping(self) -> None:
        self.table.describe()

    def dispose(self) -> None:
        self.table.client.close()
