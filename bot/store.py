"""The store port: the repositories the core uses, with intention-revealing methods and no SQL.

`storage/` implements it (SQLite today). A feature's state changes and the outbound actions they cause are written
in one `Transaction`, so a crash can never keep one without the other.
"""

from __future__ import annotations

import enum
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.events import MessageRef, OutboundAction, UserRef


class Priority(enum.IntEnum):
    """Lower is sooner. Crisis replies and moderator alerts go before everything else."""

    CRISIS = 0
    ALERT = 1
    NORMAL = 5
    BULK = 8


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    key: str
    priority: Priority
    action: OutboundAction | None  # None once delivered: the text is not kept after it is sent
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None
    kind: str


class StoreError(Exception):
    """A store could not be opened or used; the message is meant for the operator."""


class SchemaTooNewError(StoreError):
    pass


class OutboxInTransaction(Protocol):
    async def enqueue(self, key: str, action: OutboundAction, priority: Priority, now: datetime) -> bool:
        """Queue an action once: a second enqueue with the same key is ignored (returns False)."""
        ...

    async def delivered_ref(self, key: str) -> MessageRef | None:
        """Where an earlier action landed, once delivered (to edit it or reply in its thread)."""
        ...

    async def cancel_pending_to(self, user: UserRef, now: datetime) -> int:
        """Cancel undelivered messages to one person (used when they ask to be forgotten)."""
        ...


class InboundLog(Protocol):
    async def first_sighting(self, event_key: str, now: datetime) -> bool:
        """Record a platform event id; False if it was seen before (a redelivery to skip)."""
        ...


class Transaction(Protocol):
    outbox: OutboxInTransaction
    inbound: InboundLog


class OutboxQueue(Protocol):
    """The dispatcher's side of the outbox. Claims use a lease so several workers can share one database."""

    async def claim_due(self, now: datetime, limit: int, owner: str, lease_seconds: float) -> list[OutboxItem]: ...

    async def mark_delivered(self, item_id: int, owner: str, ref: MessageRef | None, now: datetime) -> None: ...

    async def mark_retry(self, item_id: int, owner: str, error: str, next_attempt_at: datetime) -> None: ...

    async def mark_dead(self, item_id: int, owner: str, error: str, now: datetime) -> None: ...

    async def next_due_at(self) -> datetime | None: ...

    async def items(self, status: OutboxStatus | None = None, limit: int = 100) -> list[OutboxItem]: ...

    async def counts(self) -> dict[OutboxStatus, int]: ...

    async def requeue(self, item_id: int, now: datetime) -> bool:
        """Put a dead-lettered item back in the queue (an operator's decision)."""
        ...


class Store(Protocol):
    outbox: OutboxQueue

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def schema_version(self) -> int: ...

    async def close(self) -> None: ...
