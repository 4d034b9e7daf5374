"""The store port: the repositories the core uses, with intention-revealing methods and no SQL.

`storage/` implements it (SQLite today). A feature's state changes and the outbound actions they cause are written
in one `Transaction`, so a crash can never keep one without the other.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from bot.events import MessageRef, OutboundAction, OutboundMessage, UserRef


class Priority(enum.IntEnum):
    """Lower is sooner. Crisis replies and moderator alerts go before everything else."""

    CRISIS = 0
    ALERT = 1
    INTERACTIVE = 3  # a form opened in answer to a press: the platform's token expires within seconds
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


class SurveyState(enum.StrEnum):
    OFFERED = "offered"
    ANSWERING = "answering"
    COMPLETED = "completed"
    SKIPPED = "skipped"  # "not now": this one only
    EXPIRED = "expired"  # a newer survey was offered before this one was finished


@dataclass(frozen=True, slots=True)
class Survey:
    id: int
    member_id: int
    kind: str  # baseline | followup
    state: SurveyState
    items: tuple[str, ...]  # the questions of this survey, in order
    position: int  # index in `items` of the question being asked
    offered_at: datetime
    completed_at: datetime | None
    answers: tuple[tuple[str, int], ...]  # (item, answer) for the items answered

    def answer(self, item: str) -> int | None:
        return next((value for name, value in self.answers if name == item), None)


@dataclass(frozen=True, slots=True)
class SurveySettings:
    member_id: int
    declined_at: datetime | None
    next_survey_at: datetime | None


SURVEY_ITEMS = frozenset({"who5_1", "who5_2", "who5_3", "who5_4", "who5_5", "burnout", "satisfaction",
                          "pair_satisfaction"})


class SurveyRepo(Protocol):
    async def settings(self, member_id: int) -> SurveySettings | None: ...

    async def save_settings(self, settings: SurveySettings) -> None: ...

    async def create(self, member_id: int, kind: str, items: tuple[str, ...], now: datetime) -> Survey: ...

    async def get(self, survey_id: int) -> Survey | None: ...

    async def open_for(self, member_id: int) -> Survey | None:
        """The member's newest survey that is offered or being answered."""
        ...

    async def record_answer(self, survey_id: int, item: str, value: int | None, position: int) -> None:
        """Save one answer (None: a question passed over; `item` then may be any name) and move to `position`."""
        ...

    async def set_state(self, survey_id: int, state: SurveyState, now: datetime) -> None:
        """The caller checked the transition; `completed_at` is set when the state is completed."""
        ...

    async def by_member(self, member_id: int) -> list[Survey]: ...

    async def due(self, now: datetime, limit: int) -> list[tuple[int, UserRef]]:
        """(member id, where to DM them) of members whose next survey is due, and of members who finished
        onboarding but were never offered one. Called in the transaction that offers them, so two workers never
        offer the same survey."""
        ...

    async def next_due(self) -> datetime | None: ...

    async def add_suggestion(self, week: date, text: str) -> None:
        """Keep an improvement suggestion apart from anyone's id: only the week it was written."""
        ...


class ActivityRepo(Protocol):
    async def record(self, member_id: int, week: date, kind: str) -> None:
        """Count one activity of `kind` (post, reply, checkin, pair) for the member in the week starting `week`."""
        ...

    async def pairing_started(self, pairing_id: int, requested_at: datetime) -> None:
        """Keep when the mentee of a new pairing first asked, for the wait-to-match figure."""
        ...


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the figures need of one member; the internal id never leaves `bot.evaluation`."""

    id: int
    platform: str
    topics: tuple[str, ...]
    role: str | None
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class SurveyFacts:
    member_id: int
    kind: str
    completed_at: datetime
    who5: tuple[int, ...]  # the five answers, 0-5 each (empty if any is missing)
    burnout: int | None
    satisfaction: int | None
    pair_satisfaction: int | None


@dataclass(frozen=True, slots=True)
class PostFacts:
    member_id: int | None  # None once the author was forgotten
    topic: str
    reply: bool


@dataclass(frozen=True, slots=True)
class EscalationFacts:
    severity: str
    categories: tuple[str, ...]
    opened_at: datetime
    acknowledged_at: datetime | None
    repage_count: int
    breached: bool
    resolved: bool
    subject: int  # a stand-in that tells cases of one person apart within one report, never an id
    platform: str = ""


@dataclass(frozen=True, slots=True)
class PairingFacts:
    """One pairing or request, for the pairing figures (empty when the pairing feature is not installed)."""

    kind: str  # "request" (a mentee's request), "pairing", "mentor"
    member_id: int  # the mentee of a request or pairing; the mentor of a "mentor" row
    mentor_id: int | None
    started_at: datetime | None  # requested_at for a request, started_at for a pairing, approved for a mentor
    ended_at: datetime | None  # matched_at for a request (None: still waiting), ended_at for a pairing
    end_reason: str | None
    capacity: int = 0
    score: int | None = None  # a pairing's follow-up rating (mean of its answers, rounded)


class EvaluationQueries(Protocol):
    """Read-only queries behind the program-evaluation figures: member-level facts, no text except suggestions."""

    async def members(self, until: datetime) -> list[MemberFacts]: ...

    async def activity(self, first_week: date, last_week: date) -> list[tuple[int, date, str, int]]:
        """(member id, week, kind, count) for the weeks from `first_week` to `last_week` inclusive."""
        ...

    async def checkin_counts(self, start: datetime, end: datetime) -> dict[int, tuple[int, int]]:
        """member id -> (check-ins sent, answered or skipped) among those sent in [start, end)."""
        ...

    async def surveys(self, until: datetime) -> list[SurveyFacts]:
        """Every survey completed before `until`, oldest first."""
        ...

    async def posts(self, start: datetime, end: datetime) -> list[PostFacts]: ...

    async def suggestions(self, first_week: date, last_week: date) -> list[str]: ...

    async def escalations(self, start: datetime, end: datetime) -> list[EscalationFacts]: ...

    async def pairing(self, start: datetime, end: datetime) -> list[PairingFacts]: ...


class MentorStatus(enum.StrEnum):
    PENDING = "pending"  # offered, waiting for a moderator
    APPROVED = "approved"
    PAUSED = "paused"  # approved, but no new mentees for now
    DECLINED = "declined"
    STEPPED_DOWN = "stepped_down"


class ProposalState(enum.StrEnum):
    ASKED_MENTOR = "asked_mentor"
    MENTOR_ACCEPTED = "mentor_accepted"  # the mentee is asked next
    STARTED = "started"
    MENTOR_DECLINED = "mentor_declined"
    MENTEE_DECLINED = "mentee_declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class PairingState(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class MentorOffer:
    member_id: int
    status: MentorStatus
    topics: tuple[str, ...]
    languages: tuple[str, ...]
    timezone: str
    capacity: int
    availability: str
    intro: str
    offered_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    last_new_mentee_at: datetime | None = None
    alert_key: str | None = None


@dataclass(frozen=True, slots=True)
class MentorLoad:
    offer: MentorOffer
    load: int  # active pairings plus proposals still waiting for an answer


@dataclass(frozen=True, slots=True)
class PairRequest:
    member_id: int
    topics: tuple[str, ...]
    note: str | None
    requested_at: datetime
    waiting: bool = False


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    mentee_id: int
    mentor_id: int
    state: ProposalState
    shared_topics: tuple[str, ...]
    tz_hours_apart: float | None
    created_at: datetime
    expires_at: datetime | None
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class Pairing:
    id: int
    mentee_id: int
    mentor_id: int
    state: PairingState
    shared_topics: tuple[str, ...]
    started_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    mentee_shares: bool
    mentor_shares: bool
    followup_at: datetime | None

    def side_of(self, member_id: int) -> str:
        return "mentee" if member_id == self.mentee_id else "mentor"

    def other(self, member_id: int) -> int:
        return self.mentor_id if member_id == self.mentee_id else self.mentee_id


@dataclass(frozen=True, slots=True)
class PairingFeedback:
    id: int
    pairing_id: int
    member_id: int
    side: str
    asked_at: datetime
    answered_at: datetime | None
    score: int | None
    note: str | None


@dataclass(frozen=True, slots=True)
class PairingAuditEntry:
    at: datetime
    record: str  # "mentor:<member id>", "proposal:<id>" or "pairing:<id>"
    from_state: str | None
    to_state: str
    actor: str


class PairingRepo(Protocol):
    # -- mentors
    async def mentor(self, member_id: int) -> MentorOffer | None: ...

    async def save_mentor(self, offer: MentorOffer) -> None: ...

    async def mentors_with_load(self, status: MentorStatus) -> list[MentorLoad]:
        """Mentors in a status, each with their current load (active pairings and open proposals)."""
        ...

    async def mentor_counts(self) -> dict[MentorStatus, int]: ...

    # -- requests and the waitlist
    async def request(self, member_id: int) -> PairRequest | None: ...

    async def save_request(self, request: PairRequest) -> None: ...

    async def delete_request(self, member_id: int) -> None: ...

    async def waiting(self, limit: int) -> list[PairRequest]:
        """The waitlist, longest waiting first."""
        ...

    # -- proposals
    async def add_proposal(self, mentee_id: int, mentor_id: int, shared_topics: tuple[str, ...],
                           tz_hours_apart: float | None, expires_at: datetime, now: datetime) -> Proposal: ...

    async def proposal(self, proposal_id: int) -> Proposal | None: ...

    async def set_proposal_state(self, proposal_id: int, state: ProposalState, now: datetime,
                                 expires_at: datetime | None = None) -> None:
        """The caller checked the transition; `expires_at` is when the next answer is due (None: none awaited)."""
        ...

    async def open_proposal_of_mentee(self, mentee_id: int) -> Proposal | None: ...

    async def open_proposals_of_mentor(self, mentor_id: int) -> list[Proposal]: ...

    async def mentors_asked_since(self, mentee_id: int, since: datetime) -> set[int]: ...

    async def proposals_of(self, member_id: int) -> list[Proposal]:
        """Every proposal the member was part of, either side, oldest first."""
        ...

    async def expired_proposals(self, now: datetime, limit: int) -> list[Proposal]:
        """Proposals whose answer is overdue, oldest first (claimed in the transaction that expires them)."""
        ...

    async def next_expiry(self) -> datetime | None: ...

    # -- pairings
    async def add_pairing(self, mentee_id: int, mentor_id: int, shared_topics: tuple[str, ...], now: datetime,
                          followup_at: datetime) -> Pairing: ...

    async def pairing(self, pairing_id: int) -> Pairing | None: ...

    async def active_pairings_of(self, member_id: int) -> list[Pairing]:
        """Active pairings where the member is either side, oldest first."""
        ...

    async def pairings_of(self, member_id: int) -> list[Pairing]: ...

    async def end_pairing(self, pairing_id: int, ended_by: str, reason: str, now: datetime) -> None: ...

    async def set_shares(self, pairing_id: int, side: str) -> None: ...

    async def former_mentors(self, mentee_id: int) -> set[int]:
        """Mentors this mentee was ever paired with (never proposed again)."""
        ...

    async def due_followups(self, now: datetime, limit: int) -> list[Pairing]: ...

    async def clear_followup(self, pairing_id: int) -> None: ...

    async def next_followup(self) -> datetime | None: ...

    # -- follow-up feedback
    async def add_feedback(self, pairing_id: int, member_id: int, side: str, now: datetime) -> int: ...

    async def feedback(self, feedback_id: int) -> PairingFeedback | None: ...

    async def answer_feedback(self, feedback_id: int, score: int, now: datetime) -> None: ...

    async def set_feedback_note(self, feedback_id: int, note: str) -> None: ...

    async def feedback_of(self, member_id: int) -> list[PairingFeedback]:
        """Newest first."""
        ...

    # -- a relay draft (the sender is choosing which pairing)
    async def save_draft(self, member_id: int, text: str, now: datetime) -> None: ...

    async def take_draft(self, member_id: int) -> tuple[str, datetime] | None:
        """The draft and when it was written; it is deleted as it is taken."""
        ...

    async def purge_drafts(self, before: datetime) -> int: ...

    async def oldest_draft(self) -> datetime | None: ...

    # -- program figures (anonymous counts) and the audit
    async def count(self, figure: str, now: datetime) -> None: ...

    async def figures(self) -> dict[str, int]: ...

    async def audit(self, record: str, from_state: str | None, to_state: str, actor: str, now: datetime) -> None: ...

    async def audit_trail(self, record: str) -> list[PairingAuditEntry]: ...


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
    surveys: SurveyRepo
    activity: ActivityRepo
    evaluation: EvaluationQueries
    pairing: PairingRepo


class OutboxQueue(Protocol):
    """The dispatcher's side of the outbox. Claims use a lease so several workers can share one database."""

    async def claim_due(self, now: datetime, limit: int, owner: str, lease_seconds: float) -> list[OutboxItem]: ...

    async def mark_delivered(self, item_id: int, owner: str, ref: MessageRef | None, now: datetime,
                             then: tuple[str, OutboundAction, Priority] | None = None) -> None:
        """Settle a delivered item still leased by `owner` and, in the same transaction, queue `then` (key,
        action, priority) if given: once only (its key), and not if the item was cancelled meanwhile."""
        ...

    async def mark_retry(self, item_id: int, owner: str, error: str, next_attempt_at: datetime) -> None: ...

    async def mark_dead(self, item_id: int, owner: str, error: str, now: datetime) -> None: ...

    async def release(self, item_ids: list[int], owner: str) -> None:
        """Give back claimed items not attempted (so more urgent ones can go first); attempts are not counted."""
        ...

    async def renew(self, item_ids: list[int], owner: str, now: datetime, lease_seconds: float) -> set[int]:
        """Extend this worker's lease on claimed items it has not sent yet; returns the ids still ours (a lease
        that ran out may have been taken over by another worker, which then sends that item instead)."""
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
