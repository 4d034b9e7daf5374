"""The store port: the repositories the core uses, with intention-revealing methods and no SQL.

`storage/` implements it (SQLite today). A feature's state changes and the outbound actions they cause are written
in one `Transaction`, so a crash can never keep one without the other.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.events import MessageRef, OutboundAction, OutboundMessage, UserRef


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
        """Queue an action once: a second enqueue with the same key is ignored (returns False).
        A delivered message to one person keeps neither the recipient nor where it landed."""
        ...

    async def enqueue_many(self, items: list[tuple[str, OutboundAction, Priority]], now: datetime) -> int:
        """Queue several actions at once (keys already queued are ignored); returns how many were new."""
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


class EscalationState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Escalation:
    id: int
    platform: str
    workspace: str
    subject_key: str | None
    subject_label: str
    state: EscalationState
    severity: str
    categories: tuple[str, ...]
    location: str
    excerpt: str | None
    message_count: int
    opened_at: datetime
    last_message_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    repage_count: int
    next_repage_at: datetime | None
    breached: bool
    alert_key: str | None
    held: tuple[tuple[str, OutboundAction], ...]  # (outbox key, action) of posts held for a moderator's decision


@dataclass(frozen=True, slots=True)
class AuditEntry:
    escalation_id: int
    at: datetime
    action: str
    actor: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class NewEscalation:
    platform: str
    workspace: str
    subject_key: str
    subject_label: str
    severity: str
    categories: tuple[str, ...]
    location: str
    excerpt: str | None
    next_repage_at: datetime


class EscalationRepo(Protocol):
    async def create(self, new: NewEscalation, now: datetime) -> Escalation: ...

    async def get(self, escalation_id: int) -> Escalation | None: ...

    async def active_for(self, subject_key: str, since: datetime) -> Escalation | None:
        """The newest open or acknowledged case of this person with a message since `since`."""
        ...

    async def join(self, escalation_id: int, severity: str, categories: tuple[str, ...], excerpt: str | None,
                   now: datetime) -> None:
        """Another alarming message from the same person joins the case."""
        ...

    async def set_alert_key(self, escalation_id: int, key: str) -> None: ...

    async def set_state(self, escalation_id: int, state: EscalationState, actor: str, now: datetime) -> None:
        """Acknowledged or resolved (the caller checked the transition); re-paging stops."""
        ...

    async def due_for_repage(self, now: datetime, limit: int) -> list[Escalation]:
        """Cases whose re-page time has come. Called in the transaction that records the re-page, so two
        workers never re-page the same case twice."""
        ...

    async def record_repage(self, escalation_id: int, repage_count: int, next_repage_at: datetime | None,
                            breached: bool) -> None: ...

    async def next_repage_due(self) -> datetime | None:
        """The earliest re-page time of any open case."""
        ...

    async def hold(self, escalation_id: int, key: str, action: OutboundAction) -> None:
        """Add a post to the ones held in this case until a moderator publishes or discards them."""
        ...

    async def clear_held(self, escalation_id: int) -> None: ...

    async def audit(self, escalation_id: int, action: str, actor: str, now: datetime,
                    detail: str | None = None) -> None: ...

    async def audit_trail(self, escalation_id: int) -> list[AuditEntry]: ...

    async def unresolved(self) -> list[Escalation]: ...

    async def opened_since(self, since: datetime) -> list[Escalation]: ...


@dataclass(frozen=True, slots=True)
class Outreach:
    escalation_id: int
    moderator_key: str
    subject_key: str


class OutreachRepo(Protocol):
    async def open(self, escalation_id: int, moderator_key: str, subject_key: str, now: datetime) -> None: ...

    async def for_escalation(self, escalation_id: int) -> Outreach | None: ...

    async def for_subject(self, subject_key: str) -> Outreach | None: ...

    async def close(self, escalation_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    pseudonym: str
    role: str | None
    topics: tuple[str, ...]
    language: str | None
    timezone: str | None
    checkin_pref: str | None
    onboarding_step: str
    muted: bool
    joined_at: datetime


MEMBER_FIELDS = frozenset({"role", "topics", "language", "timezone", "checkin_pref", "onboarding_step", "muted"})


class MemberRepo(Protocol):
    async def by_user(self, user: UserRef) -> Member | None: ...

    async def get(self, member_id: int) -> Member | None: ...

    async def by_pseudonym(self, pseudonym: str) -> Member | None:
        """By current or earlier pseudonym, case-insensitively."""
        ...

    async def pseudonym_taken(self, pseudonym: str) -> bool: ...

    async def create(self, user: UserRef, pseudonym: str, consent_version: int, now: datetime) -> Member: ...

    async def update(self, member_id: int, **fields: object) -> None:
        """Change fields named in MEMBER_FIELDS (topics as a tuple)."""
        ...

    async def new_pseudonym(self, member_id: int, pseudonym: str, now: datetime) -> None: ...

    async def pseudonym_history(self, member_id: int) -> list[tuple[str, datetime, datetime | None]]: ...

    async def identities(self, member_id: int) -> list[UserRef]: ...

    async def forget_user(self, user: UserRef, now: datetime) -> None:
        """Delete the person for good: profile, identities, pseudonyms, the post mapping, pending messages, and
        every other row that names them; safety cases keep only what the retention policy needs, with the
        identity removed. Works for people who never joined, too."""
        ...


@dataclass(frozen=True, slots=True)
class GroupPost:
    id: int
    public_id: str
    member_id: int | None
    pseudonym: str
    topic: str
    platform: str
    workspace: str
    channel_id: str
    parent_id: int | None
    outbox_key: str
    text: str | None
    created_at: datetime
    removed_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewGroupPost:
    public_id: str
    member_id: int
    pseudonym: str
    topic: str
    platform: str
    workspace: str
    channel_id: str
    parent_id: int | None
    outbox_key: str
    text: str | None


class GroupPostRepo(Protocol):
    async def add(self, post: NewGroupPost, now: datetime) -> GroupPost: ...

    async def get(self, public_id: str) -> GroupPost | None: ...

    async def by_id(self, post_id: int) -> GroupPost | None: ...

    async def public_id_taken(self, public_id: str) -> bool: ...

    async def count_by_member_since(self, member_id: int, since: datetime) -> int: ...

    async def mark_removed(self, post_id: int, actor: str, now: datetime) -> None: ...

    async def by_member(self, member_id: int) -> list[GroupPost]: ...


@dataclass(frozen=True, slots=True)
class ModerationEntry:
    at: datetime
    action: str
    actor: str
    target: str
    reason: str | None


class ModerationAudit(Protocol):
    async def record(self, action: str, actor: str, target: str, reason: str | None, now: datetime) -> None: ...

    async def entries(self, limit: int = 100) -> list[ModerationEntry]: ...


class Retention(Protocol):
    async def purge(self, before: datetime) -> dict[str, int]:
        """Drop relayed text, resolved cases' excerpts and identities, and old delivery records from before
        `before`; returns counts per kind (no content)."""
        ...


@dataclass(frozen=True, slots=True)
class CheckinSchedule:
    member_id: int
    frequency: str  # daily | weekdays | weekly | days
    days: tuple[int, ...]  # weekday numbers, 0 = Monday (weekly: one day; days: the chosen ones)
    local_time: str  # "HH:MM"
    timezone: str
    quiet_start: str | None = None
    quiet_end: str | None = None
    paused_until: datetime | None = None
    next_checkin_at: datetime | None = None
    missed: int = 0
    slowed: bool = False
    share_trend: bool = False
    trend_offered_at: datetime | None = None
    outstanding_id: int | None = None


@dataclass(frozen=True, slots=True)
class Checkin:
    id: int
    member_id: int
    due_at: datetime
    sent_at: datetime
    answered_at: datetime | None
    mood: int | None
    skipped: bool
    note: str | None


@dataclass(frozen=True, slots=True)
class DueCheckin:
    schedule: CheckinSchedule
    user: UserRef  # where to DM the member


@dataclass(frozen=True, slots=True)
class SentCheckin:
    """A due check-in being sent: what changes on the member's schedule, and where the DM goes."""

    member_id: int
    user: UserRef
    due_at: datetime
    missed: int  # consecutive unanswered check-ins, counting the one this replaces
    next_checkin_at: datetime | None


class CheckinRepo(Protocol):
    async def schedule(self, member_id: int) -> CheckinSchedule | None: ...

    async def save_schedule(self, schedule: CheckinSchedule) -> None: ...

    async def delete_schedule(self, member_id: int) -> None: ...

    async def due_members(self, now: datetime) -> list[int]:
        """The members whose check-in is due at `now`, in member order (the schedules' own order, so a batch of
        neighbours is written in few pages). Only candidates: `due` checks each again."""
        ...

    async def due(self, now: datetime, member_ids: Sequence[int]) -> list[DueCheckin]:
        """Those of `member_ids` whose check-in is still due and not paused, in member order. Called in the
        transaction that records them as sent, so two workers never send the same check-in."""
        ...

    async def record_sent(self, sent: list[SentCheckin], now: datetime, message: Callable[[int], OutboundMessage],
                          key_prefix: str, priority: Priority) -> list[int]:
        """For each due check-in: add a check-in, save the schedule's follow-up fields with it outstanding, and
        queue a DM of `message(id)` to the member under the key `key_prefix + id`, all in this transaction.
        `message` must depend on the id only through `str(id)` (the payload is encoded once per batch).
        Returns the new check-in ids, in order."""
        ...

    async def add(self, member_id: int, now: datetime) -> int:
        """A check-in asked for now (`/peer checkin now`), outside the schedule."""
        ...

    async def next_due(self) -> datetime | None: ...

    async def get(self, checkin_id: int) -> Checkin | None: ...

    async def answer(self, checkin_id: int, mood: int | None, skipped: bool, now: datetime) -> None: ...

    async def set_note(self, checkin_id: int, note: str) -> None: ...

    async def recent(self, member_id: int, limit: int) -> list[Checkin]:
        """The member's latest check-ins, newest first."""
        ...


class Transaction(Protocol):
    outbox: OutboxInTransaction
    inbound: InboundLog
    escalations: EscalationRepo
    outreach: OutreachRepo
    members: MemberRepo
    posts: GroupPostRepo
    moderation: ModerationAudit
    retention: Retention
    checkins: CheckinRepo


class OutboxQueue(Protocol):
    """The dispatcher's side of the outbox. Claims use a lease so several workers can share one database."""

    async def claim_due(self, now: datetime, limit: int, owner: str, lease_seconds: float) -> list[OutboxItem]: ...

    async def mark_delivered(self, item_id: int, owner: str, ref: MessageRef | None, now: datetime) -> None: ...

    async def mark_retry(self, item_id: int, owner: str, error: str, next_attempt_at: datetime) -> None: ...

    async def mark_dead(self, item_id: int, owner: str, error: str, now: datetime) -> None: ...

    async def release(self, item_ids: list[int], owner: str) -> None:
        """Give back claimed items not attempted (so more urgent ones can go first); attempts are not counted."""
        ...

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
