"""Mentor pairing, the whole journey: mentors offer and moderators approve them; a mentee asks with `/peer pair`;
the ranking (`rank_mentors`, pure) picks a candidate; double opt-in (the mentor accepts, then the mentee starts);
unanswered proposals expire and the next candidate is asked; with nobody free the mentee waits and is matched
when a mentor frees up. Paired members talk through the bot under their pseudonyms; either may end the pairing
at any time; a follow-up asks both how it is going.

Three state machines (mentor offer, proposal, pairing) are explicit below: enums from `bot.store`, transition
tables here, illegal moves raise, and every move is audited. Relayed text is screened first (a held text is
never passed on), carries only the sender's pseudonym, has mentions neutralised, and is not stored.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.commands import Command, parse_command
from bot.config import slug
from bot.evaluation import week_of
from bot.events import (
    ActionInvoked,
    Choice,
    CommandInvoked,
    EditMessage,
    MessageReceived,
    OutboundMessage,
    UserRef,
)
from bot.features.onboarding import valid_timezone
from bot.mentions import neutralise
from bot.router import Context
from bot.store import (
    Member,
    MentorLoad,
    MentorOffer,
    MentorStatus,
    Pairing,
    PairingState,
    PairRequest,
    Priority,
    Proposal,
    ProposalState,
    Transaction,
)

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

SYSTEM = "system"
DRAFT_TTL = timedelta(minutes=30)
REASK_AFTER = timedelta(days=7)  # a mentor who declined or let a proposal lapse is not asked again sooner
FEEDBACK_NOTE_WINDOW = timedelta(days=3)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCORES = {1: "Not well", 2: "Not great", 3: "Okay", 4: "Well", 5: "Really well"}
# End reasons are stored as a category for program figures, never as the words typed.
END_REASONS: dict[str, tuple[str, ...]] = {
    "goal_reached": ("helped", "better", "done", "thank", "enough", "goal", "good place", "finished"),
    "not_a_fit": ("fit", "click", "match", "different", "comfortable"),
    "no_time": ("time", "busy", "schedule", "work", "later"),
    "no_contact": ("reply", "respond", "answer", "quiet", "hear"),
}

# ---------------------------------------------------------------- the state machines


class IllegalTransition(Exception):
    pass


MENTOR_TRANSITIONS: dict[MentorStatus, frozenset[MentorStatus]] = {
    MentorStatus.PENDING: frozenset({MentorStatus.APPROVED, MentorStatus.DECLINED, MentorStatus.STEPPED_DOWN}),
    MentorStatus.APPROVED: frozenset({MentorStatus.PAUSED, MentorStatus.STEPPED_DOWN}),
    MentorStatus.PAUSED: frozenset({MentorStatus.APPROVED, MentorStatus.STEPPED_DOWN}),
    MentorStatus.DECLINED: frozenset({MentorStatus.PENDING}),
    MentorStatus.STEPPED_DOWN: frozenset({MentorStatus.PENDING}),
}
_OPEN_PROPOSAL_ENDS = frozenset({ProposalState.EXPIRED, ProposalState.CANCELLED})
PROPOSAL_TRANSITIONS: dict[ProposalState, frozenset[ProposalState]] = {
    ProposalState.ASKED_MENTOR: frozenset({ProposalState.MENTOR_ACCEPTED, ProposalState.MENTOR_DECLINED,
                                           *_OPEN_PROPOSAL_ENDS}),
    ProposalState.MENTOR_ACCEPTED: frozenset({ProposalState.STARTED, ProposalState.MENTEE_DECLINED,
                                              *_OPEN_PROPOSAL_ENDS}),
    ProposalState.STARTED: frozenset(),
    ProposalState.MENTOR_DECLINED: frozenset(),
    ProposalState.MENTEE_DECLINED: frozenset(),
    ProposalState.EXPIRED: frozenset(),
    ProposalState.CANCELLED: frozenset(),
}
PAIRING_TRANSITIONS: dict[PairingState, frozenset[PairingState]] = {
    PairingState.ACTIVE: frozenset({PairingState.ENDED}),
    PairingState.ENDED: frozenset(),
}


State = TypeVar("State", MentorStatus, ProposalState, PairingState)


def check_transition(table: dict[State, frozenset[State]], current: State, target: State) -> None:
    if target not in table[current]:
        raise IllegalTransition(f"{type(current).__name__} {current.value} cannot become {target.value}")


# ---------------------------------------------------------------- what people read (reviewed as a whole)

NOT_MEMBER = "Mentor pairing is for members. Type `/peer join` to join (nothing is stored until you agree)."
NEED_TOPICS = ("Tell me which topics matter to you first, so I can find someone who has been there: "
               "`/peer profile topics diabetes, chronic-pain`.")
MENTOR_NEEDS_TOPICS = ("To offer mentoring, name the topics you have lived experience of: "
                       "`/peer mentor topics diabetes, chronic-pain` (this sends your offer).")
MENTOR_INTRO = ("Mentors are people who have lived with a condition or a job strain for a while and want to help "
                "someone newer to it, one to one, through me, under your pseudonym. Program staff confirm "
                "mentors before any pairing.")
MENTOR_HELP = ("Change with `/peer mentor intro <a few words about you>`, `/peer mentor topics a, b`, "
               "`/peer mentor languages English, Deutsch`, `/peer mentor timezone Europe/London`, "
               "`/peer mentor capacity 2`, `/peer mentor availability weekday evenings`; "
               "`/peer mentor pause`, `/peer mentor resume`, `/peer mentor stepdown`.")
OFFER_SENT_FROM_PROFILE = ("I've sent your offer to mentor to the program staff, with your profile's topics, "
                           "language and timezone. `/peer mentor` shows it; `/peer mentor intro <text>` adds a few "
                           "words about you for mentees.")
OFFER_SENT = ("Thank you for offering to mentor. Your offer is with the program staff, who confirm every mentor; "
              "I'll tell you as soon as they decide.")
APPROVED = ("Good news: the program staff approved you as a mentor. I'll send you a proposal when someone who "
            "shares your experience asks for a mentor; you decide each time. Thank you.")
DECLINED = ("Thank you for offering to mentor. The program staff can't add you as a mentor right now{reason}. "
            "You're very welcome in the groups, and you can talk to a moderator about it any time.")
PAUSED = "Paused: you won't get new mentees until `/peer mentor resume`. Your current pairings go on as before."
RESUMED = "Welcome back: you can get new mentees again."
STEPPED_DOWN = ("You've stepped down as a mentor. Thank you for the support you gave. Your mentees have been told "
                "kindly and offered a new match. `/peer mentor offer` if you'd like to come back one day.")
HELD_FIELD = ("I haven't saved that: a moderator will read your message first. You're not in trouble; we want "
              "to make sure you're okay.")
NOT_RELAYED = ("I haven't passed that message on. A moderator has been told and will be in touch; the lines above "
               "are there for you right now.")
SHOWN_TO_MENTEE = frozenset({ProposalState.MENTOR_ACCEPTED, ProposalState.STARTED, ProposalState.MENTEE_DECLINED})
# A DM that may be meant for the bot itself (a check-in note, the survey's suggestion) or for the other side:
# the member is asked, never guessed for.
KEEP_OR_PASS_ON = {
    "note": ("Is this a private note for your check-in, or a message to pass on?", "Keep as my check-in note"),
    "suggestion": ("Is this your anonymous suggestion for the survey, or a message to pass on?",
                   "It's my survey suggestion"),
}
DRAFT_GONE = "That message is no longer waiting to be sent. Please write it again."
NO_PAIRING = "You're not in a mentor pairing right now. `/peer pair` asks for a mentor."
STALE = "That is no longer open."
SAY_USAGE = "Usage: `/peer say <text>` (or `/peer say @<pseudonym> <text>` when you have several pairings)."
FEEDBACK_THANKS = "Thank you. If you'd like to add a few words for the program team, type `/peer pair feedback <note>`."
FEEDBACK_NOTE_SAVED = "Thank you, your note is saved with your answer (only the program team reads it)."
MENTEE_NOTE_DROPPED = ("I've still asked for a mentor, but I haven't passed your note on: a moderator will read it "
                       "first.")


def waitlist_text(groups: list[str], crisis_footer: str) -> str:
    where = ", ".join(f"`{g}`" for g in groups) or "the groups"
    return "\n".join([
        "No mentor who shares your topics is free right now, so you're on the waitlist. I'll match you "
        "automatically as soon as one is, and tell you; you don't need to do anything.",
        f"Meanwhile the groups are there for you: `/peer post <group> <text>` ({where}).",
        "`/peer pair cancel` takes you off the waitlist.",
        crisis_footer,
    ])


def topic_names(topics: Iterable[str], labels: dict[str, str]) -> str:
    """("diabetes", "chronic-pain", "caregiver") -> "Diabetes, Chronic pain and Caregiver"."""
    names = [labels.get(t, t) for t in topics]
    if len(names) <= 1:
        return names[0] if names else "none"
    return ", ".join(names[:-1]) + " and " + names[-1]


def reasons_text(shared: Iterable[str], hours: float | None, labels: dict[str, str]) -> str:
    """Why this match, for the mentee: what is shared and how far apart the clocks are, never who."""
    text = f"they have lived experience of {topic_names(shared, labels)}"
    if hours is not None:
        text += (", and their timezone is the same as yours" if hours == 0 else
                 f", and their timezone is {hours:g} hour{'s' if hours != 1 else ''} from yours")
    return text


def proposal_for_mentor(mentee: str, shared: str, hours: float | None, note: str | None, expiry_hours: float,
                        load: int, capacity: int) -> str:
    lines = [f"🤝 A member would like a mentor: **{mentee}**.", f"You share: {shared}."]
    if hours is not None:
        lines.append("Timezone: the same as yours." if hours == 0 else
                     f"Timezones: {hours:g} hour{'s' if hours != 1 else ''} apart.")
    if note:
        lines.append(f"Their note: “{neutralise(note)}”")
    lines.append(f"Could you mentor them? This would be mentee {load + 1} of your {capacity}. Please answer within "
                 f"{expiry_hours:g} hours; if you can't right now, Decline is fine, and I'll ask someone else.")
    return "\n".join(lines)


def proposal_for_mentee(mentor: str, reasons: str, intro: str, availability: str, expiry_hours: float) -> str:
    lines = [f"Good news: a mentor would like to support you. I suggested them because {reasons}.",
             f"Their pseudonym: **{mentor}**."]
    if intro:
        lines.append(f"In their words: “{neutralise(intro)}”")
    if availability:
        lines.append(f"Usually available: {neutralise(availability)}.")
    lines.append(f"Would you like to start? (This stays open for {expiry_hours:g} hours.)")
    return "\n".join(lines)


def started_text(other: str, role: str, crisis_footer: str) -> str:
    return "\n".join([
        f"You're paired with **{other}** (your {role}). Write to me here and I'll pass it on under your pseudonym; "
        "they never see your name or account, and you never see theirs.",
        "• **Share contact** introduces you directly, only if you both choose it.",
        "• `/peer pair end [reason]` ends the pairing any time, no blame.",
        "A mentor is a peer, not a professional or an emergency service.",
        crisis_footer,
    ])


def relayed_text(sender: str, role: str, text: str) -> str:
    return f"💬 **{sender}** (your {role}): {neutralise(text)}"


def ended_for_other(ender: str, ender_role: str, other_is_mentee: bool, why: str) -> str:
    if other_is_mentee:
        return (f"Your {ender_role} **{ender}** has ended your pairing{why}. Pairings end for all kinds of reasons "
                "and it's nobody's fault. Would you like me to find you another mentor?")
    return (f"Your {ender_role} **{ender}** has ended your pairing{why}. Thank you for the support you gave; "
            "it's no reflection on you.")


def followup_text(other: str, role: str) -> str:
    return f"It's been a little while since you were paired with **{other}** (your {role}). How is it going?"


# ---------------------------------------------------------------- the ranking (pure)


@dataclass(frozen=True, slots=True)
class MenteeNeeds:
    member_id: int
    topics: frozenset[str]
    languages: frozenset[str]
    utc_offset: float | None  # hours, at the time of matching


@dataclass(frozen=True, slots=True)
class MentorCandidate:
    member_id: int
    topics: frozenset[str]
    languages: frozenset[str]
    utc_offset: float | None
    capacity: int
    load: int
    last_new_mentee_at: datetime | None


@dataclass(frozen=True, slots=True)
class Match:
    mentor_id: int
    shared_topics: tuple[str, ...]
    hours_apart: float | None


def hours_apart(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    distance = abs(a - b) % 24
    return min(distance, 24 - distance)


def rank_mentors(mentee: MenteeNeeds, mentors: Iterable[MentorCandidate], never: Collection[int] = ()) -> list[Match]:
    """Mentors who may be proposed, best first. A candidate shares at least one topic and a language, has free
    capacity, is not the mentee, and was never paired with them before (`never`). Ranked by topic overlap
    (more first), timezone distance (nearer first; unknown last), load (lighter first), then fairness: whoever
    has waited longest for a new mentee (or never had one) first."""
    ranked: list[tuple[tuple[float, float, int, datetime, int], Match]] = []
    for mentor in mentors:
        shared = mentee.topics & mentor.topics
        if (mentor.member_id == mentee.member_id or mentor.member_id in never or not shared
                or not mentee.languages & mentor.languages or mentor.load >= mentor.capacity):
            continue
        apart = hours_apart(mentee.utc_offset, mentor.utc_offset)
        key = (-len(shared), 13.0 if apart is None else apart, mentor.load,
               mentor.last_new_mentee_at or EPOCH, mentor.member_id)
        ranked.append((key, Match(mentor.member_id, tuple(sorted(shared)), apart)))
    ranked.sort(key=lambda item: item[0])
    return [match for _, match in ranked]


def utc_offset_hours(zone: str | None, at: datetime) -> float | None:
    if not zone:
        return None
    try:
        offset = at.astimezone(ZoneInfo(zone)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return None if offset is None else offset.total_seconds() / 3600


def reason_category(text: str) -> str:
    words = text.casefold().strip()
    if not words:
        return "not_given"
    for category, needles in END_REASONS.items():
        if any(needle in words for needle in needles):
            return category
    return "other"


# ---------------------------------------------------------------- the feature


class MentorPairing:
    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings.pairing
        self.labels = {slug(label): label for label in app.settings.community.topics}
        self.languages = list(app.settings.community.languages)
        self.expiry = timedelta(hours=self.settings.proposal_expiry_hours)
        # Keep a DM as what the member says it was ("note": their check-in note, "suggestion": the survey's
        # suggestion), wired to the features that own them.
        self.keepers: dict[str, Callable[[Context, Member, str], Awaitable[None]]] = {}

    def install(self) -> None:
        router = self.app.router
        router.command("mentor", self.mentor_command)
        router.command("pair", self.pair_command)
        router.command("say", self.say_command)
        router.moderator_command("approve", self.mod_approve, "/peer mod approve <pseudonym>")
        router.moderator_command("decline", self.mod_decline, "/peer mod decline <pseudonym> [reason]")
        router.moderator_command("waitlist", self.mod_waitlist, "/peer mod waitlist")
        for name, handler in (("pair.mentor", self._mentor_button), ("pair.approve", self._approve_button),
                              ("pair.decline", self._decline_button), ("pair.accept", self._accept_button),
                              ("pair.refuse", self._refuse_button), ("pair.start", self._start_button),
                              ("pair.notforme", self._not_for_me_button), ("pair.to", self._draft_button),
                              ("pair.share", self._share_button), ("pair.end", self._end_button),
                              ("pair.rematch", self._rematch_button), ("pair.keep", self._keep_button),
                              ("pair.fb", self._feedback_button), ("pair.tell", self._tell_mentor_button),
                              ("pair.note", self._note_button)):
            router.action(name, handler)
        router.on_dm(self._relay_dm)
        router.tick("pairing.due", timedelta(seconds=self.settings.tick_seconds), self.run_due,
                    due_hint=self.next_due)

    @property
    def footer(self) -> str:
        return self.app.texts.crisis_footer

    # ------------------------------------------------------------ small helpers

    async def _member(self, ctx: Context) -> Member | None:
        return await ctx.member_or_tell(NOT_MEMBER + "\n" + self.footer)

    async def _dm(self, ctx: Context, member_id: int, text: str, choices: tuple[Choice, ...] = (),
                  key: str | None = None, priority: Priority = Priority.NORMAL) -> str | None:
        identities = await ctx.tx.members.identities(member_id)
        if not identities:
            return None
        return ctx.dm(identities[0], OutboundMessage(text, choices), priority, key)

    async def _pseudonym(self, tx: Transaction, member_id: int) -> str:
        member = await tx.members.get(member_id)
        return member.pseudonym if member else "a member who has left"

    def _groups(self, platform: str) -> list[str]:
        return list(getattr(self.app.settings.groups, platform, {}) or {})

    async def _move_offer(self, ctx: Context, offer: MentorOffer, target: MentorStatus, actor: str,
                          **changes: object) -> MentorOffer:
        check_transition(MENTOR_TRANSITIONS, offer.status, target)
        moved = replace(offer, status=target, **changes)  # type: ignore[arg-type]
        await ctx.tx.pairing.save_mentor(moved)
        await ctx.tx.pairing.audit(f"mentor:{offer.member_id}", offer.status.value, target.value, actor, ctx.now)
        return moved

    async def _move_proposal(self, ctx: Context, proposal: Proposal, target: ProposalState, actor: str,
                             expires_at: datetime | None = None) -> None:
        check_transition(PROPOSAL_TRANSITIONS, proposal.state, target)
        await ctx.tx.pairing.set_proposal_state(proposal.id, target, ctx.now, expires_at)
        await ctx.tx.pairing.audit(f"proposal:{proposal.id}", proposal.state.value, target.value, actor, ctx.now)

    async def _end(self, ctx: Context, pairing: Pairing, ended_by: str, reason: str) -> None:
        check_transition(PAIRING_TRANSITIONS, pairing.state, PairingState.ENDED)
        await ctx.tx.pairing.end_pairing(pairing.id, ended_by, reason, ctx.now)
        await ctx.tx.pairing.audit(f"pairing:{pairing.id}", pairing.state.value, PairingState.ENDED.value,
                                   ended_by, ctx.now)
        await ctx.tx.pairing.count(f"ended:{reason}", ctx.now)

    @staticmethod
    def _rematch_choices() -> tuple[Choice, ...]:
        return (Choice("Find a new mentor", "pair.rematch", "", "primary"), Choice("Not now", "pair.keep", "later"))

    # ------------------------------------------------------------ mentors: offering

    async def mentor_command(self, ctx: Context, command: Command) -> None:
        if (member := await self._member(ctx)) is None:
            return
        sub, value = command.arg(0).lower(), command.rest(1).strip()
        offer = await ctx.tx.pairing.mentor(member.id)
        match sub:
            case "":
                await self._mentor_card(ctx, member, offer)
            case "offer":
                await self.offer(ctx, member, intro=value)
            case "pause" | "resume" | "stepdown" | "step-down":
                await self._mentor_status_change(ctx, member, sub.replace("-", ""))
            case "intro" | "availability":
                if ctx.held:
                    ctx.reply(HELD_FIELD)
                elif offer is None or offer.status in (MentorStatus.DECLINED, MentorStatus.STEPPED_DOWN):
                    await self.offer(ctx, member, **{sub: value[:500]})
                else:
                    await self._update_offer(ctx, offer, **{sub: value[:500]})
            case "topics" | "languages" | "timezone" | "capacity":
                await self._mentor_field(ctx, member, offer, sub, value)
            case _:
                ctx.reply(MENTOR_HELP)

    async def _mentor_card(self, ctx: Context, member: Member, offer: MentorOffer | None) -> None:
        if offer is None:
            draft = self._draft_offer(member, ctx.now, "")
            ctx.reply("\n".join([MENTOR_INTRO, "You would offer: " + self._describe_offer(draft), MENTOR_HELP]),
                      (Choice("Offer to mentor", "pair.mentor", "offer", "primary"),))
            return
        status = {MentorStatus.PENDING: "waiting for the program staff to confirm",
                  MentorStatus.APPROVED: "approved, taking new mentees",
                  MentorStatus.PAUSED: "paused (no new mentees)", MentorStatus.DECLINED: "not approved",
                  MentorStatus.STEPPED_DOWN: "stepped down"}[offer.status]
        load = len([p for p in await ctx.tx.pairing.active_pairings_of(member.id) if p.mentor_id == member.id])
        buttons = {MentorStatus.APPROVED: (Choice("Pause", "pair.mentor", "pause"),
                                           Choice("Step down", "pair.mentor", "stepdown", "danger")),
                   MentorStatus.PAUSED: (Choice("Resume", "pair.mentor", "resume", "primary"),
                                         Choice("Step down", "pair.mentor", "stepdown", "danger")),
                   MentorStatus.PENDING: (Choice("Withdraw my offer", "pair.mentor", "stepdown"),),
                   }.get(offer.status, (Choice("Offer again", "pair.mentor", "offer", "primary"),))
        ctx.reply("\n".join([f"Mentoring: {status}. Mentees now: {load} of {offer.capacity}.",
                             self._describe_offer(offer), MENTOR_HELP]), buttons)

    def _describe_offer(self, offer: MentorOffer) -> str:
        intro = f" Intro: “{neutralise(offer.intro)}”." if offer.intro else " No intro yet."
        return (f"topics {topic_names(offer.topics, self.labels)}; languages {', '.join(offer.languages)}; "
                f"timezone {offer.timezone}; up to {offer.capacity} mentee{'s' if offer.capacity != 1 else ''} at "
                f"once; availability {offer.availability or 'not given'}.{intro}")

    def _draft_offer(self, member: Member, now: datetime, intro: str) -> MentorOffer:
        return MentorOffer(member_id=member.id, status=MentorStatus.PENDING, topics=member.topics,
                           languages=(member.language or self.languages[0],), timezone=member.timezone or "UTC",
                           capacity=self.settings.default_capacity, availability="", intro=intro[:500],
                           offered_at=now)

    async def offer(self, ctx: Context, member: Member, intro: str = "", from_profile: bool = False,
                    **fields: object) -> None:
        """Offer to mentor (typed, the button, or the onboarding role): the moderators are asked to approve.
        `fields` set topics, languages, timezone or capacity in the same step."""
        dropped = ctx.held and bool(intro)
        if ctx.held:
            intro = ""
        current = await ctx.tx.pairing.mentor(member.id)
        if current is not None and current.status in (MentorStatus.PENDING, MentorStatus.APPROVED,
                                                       MentorStatus.PAUSED):
            ctx.reply("You've already offered to mentor. `/peer mentor` shows where it stands.")
            return
        if current is None:
            draft = replace(self._draft_offer(member, ctx.now, intro), **fields)  # type: ignore[arg-type]
            if not draft.topics:
                ctx.reply(MENTOR_NEEDS_TOPICS)
                return
            await ctx.tx.pairing.save_mentor(draft)
            await ctx.tx.pairing.audit(f"mentor:{member.id}", None, MentorStatus.PENDING.value, "mentor", ctx.now)
            offer = draft
        else:
            if not fields.get("topics", current.topics):
                ctx.reply(MENTOR_NEEDS_TOPICS)
                return
            offer = await self._move_offer(ctx, current, MentorStatus.PENDING, "mentor", offered_at=ctx.now,
                                           decided_at=None, decided_by=None, intro=intro[:500] or current.intro,
                                           **fields)
        key = ctx.to_moderators(self._approval_request(member.pseudonym, offer), Priority.NORMAL,
                                key=f"mentor-offer:{uuid.uuid4().hex}")
        await ctx.tx.pairing.save_mentor(replace(offer, alert_key=key))
        if from_profile:
            ctx.reply(OFFER_SENT_FROM_PROFILE)
        else:
            ctx.reply(OFFER_SENT + (" " + HELD_FIELD if dropped else "") + "\n" + MENTOR_HELP)
        log.info("mentor offer made", extra={"member": member.id})

    def _approval_request(self, pseudonym: str, offer: MentorOffer) -> OutboundMessage:
        return OutboundMessage("\n".join([
            f"🧭 Mentor offer · **{pseudonym}**",
            f"Offers: {self._describe_offer(offer)}",
            "Approve once the program staff have confirmed their mentor training.",
            f"Typed: /peer mod approve {pseudonym} · /peer mod decline {pseudonym} [reason]",
        ]), (Choice("Approve", "pair.approve", self._offer_ref(offer), "primary"),
             Choice("Decline", "pair.decline", self._offer_ref(offer))))

    @staticmethod
    def _offer_ref(offer: MentorOffer) -> str:
        """Which offer a button decides: the member and when they offered, so an old button never decides a
        later offer (or another member's, should an id ever be reused)."""
        return f"{offer.member_id}:{int(offer.offered_at.timestamp())}"

    async def _update_offer(self, ctx: Context, offer: MentorOffer, **changes: object) -> None:
        updated = replace(offer, **changes)  # type: ignore[arg-type]
        await ctx.tx.pairing.save_mentor(updated)
        ctx.reply("Saved. You offer: " + self._describe_offer(updated))
        if updated.status is MentorStatus.APPROVED and updated.capacity > offer.capacity:
            await self.match_waitlist(ctx)

    async def _mentor_field(self, ctx: Context, member: Member, offer: MentorOffer | None, field: str,
                            value: str) -> None:
        changes: dict[str, object] = {}
        if field == "topics":
            wanted = [slug(part) for part in value.split(",") if part.strip()]
            if not wanted or any(w not in self.labels for w in wanted):
                ctx.reply(f"Topics are: {', '.join(self.labels)} (separate them with commas).")
                return
            changes["topics"] = tuple(t for t in self.labels if t in wanted)
        elif field == "languages":
            chosen = [next((lang for lang in self.languages if lang.casefold() == part.strip().casefold()), None)
                      for part in value.split(",") if part.strip()]
            if not chosen or None in chosen:
                ctx.reply(f"Languages are: {', '.join(self.languages)} (separate them with commas).")
                return
            changes["languages"] = tuple(dict.fromkeys(c for c in chosen if c))
        elif field == "timezone":
            zone = valid_timezone(value)
            if zone is None:
                ctx.reply(f"I don't know the timezone `{value}`; write it like `Europe/London`.")
                return
            changes["timezone"] = zone
        else:
            if not value.isdigit() or not 1 <= int(value) <= 20:
                ctx.reply("Capacity is how many mentees at once, a number from 1 to 20: `/peer mentor capacity 2`.")
                return
            changes["capacity"] = int(value)
        if offer is None or offer.status in (MentorStatus.DECLINED, MentorStatus.STEPPED_DOWN):
            await self.offer(ctx, member, **changes)  # naming what you offer is offering
            return
        await self._update_offer(ctx, offer, **changes)

    async def _mentor_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None:
            return
        if event.value == "offer":
            await self.offer(ctx, member)
        else:
            await self._mentor_status_change(ctx, member, event.value)

    async def _mentor_status_change(self, ctx: Context, member: Member, change: str) -> None:
        offer = await ctx.tx.pairing.mentor(member.id)
        target = {"pause": MentorStatus.PAUSED, "resume": MentorStatus.APPROVED,
                  "stepdown": MentorStatus.STEPPED_DOWN}[change]
        if offer is None or target not in MENTOR_TRANSITIONS[offer.status]:
            ctx.reply("That doesn't apply to your mentoring right now. `/peer mentor` shows where it stands.")
            return
        await self._move_offer(ctx, offer, target, "mentor")
        if target is MentorStatus.PAUSED:
            ctx.reply(PAUSED)
        elif target is MentorStatus.APPROVED:
            ctx.reply(RESUMED)
            await self.match_waitlist(ctx)
        else:
            await self._release_mentees(ctx, member, "step_down", "mentor_stepped_down",
                                        " because they stepped down as a mentor")
            ctx.reply(STEPPED_DOWN)

    async def _release_mentees(self, ctx: Context, member: Member, ended_by: str, reason: str, why: str) -> None:
        """A mentor leaves (steps down, or is forgotten): their mentees are told kindly and re-matched."""
        for proposal in await ctx.tx.pairing.open_proposals_of_mentor(member.id):
            await self._move_proposal(ctx, proposal, ProposalState.CANCELLED, SYSTEM)
            if proposal.state is ProposalState.MENTOR_ACCEPTED:  # the mentee was already shown this mentor
                await self._dm(ctx, proposal.mentee_id, "Sorry: the mentor I suggested can no longer take on new "
                               "mentees. Nobody did anything wrong; I'm looking for someone else for you.")
            await self._continue_request(ctx, proposal.mentee_id)
        for pairing in await ctx.tx.pairing.active_pairings_of(member.id):
            if pairing.mentor_id != member.id:
                continue
            await self._end(ctx, pairing, ended_by, reason)
            await self._dm(ctx, pairing.mentee_id, ended_for_other(member.pseudonym, "mentor", True, why),
                           self._rematch_choices())

    # ------------------------------------------------------------ mentors: moderators decide

    async def _target(self, ctx: Context, command: Command, usage: str) -> tuple[Member, str] | None:
        for take in (3, 1, 2):
            if len(command.args) < take:
                continue
            member = await ctx.tx.members.by_pseudonym(" ".join(command.args[:take]))
            if member is not None:
                return member, command.rest(take)
        ctx.reply(f"No member has that pseudonym. Usage: `{usage}`.")
        return None

    async def mod_approve(self, ctx: Context, command: Command) -> None:
        if (found := await self._target(ctx, command, "/peer mod approve <pseudonym>")) is not None:
            await self.decide(ctx, found[0].id, approve=True, reason="")

    async def mod_decline(self, ctx: Context, command: Command) -> None:
        if (found := await self._target(ctx, command, "/peer mod decline <pseudonym> [reason]")) is not None:
            await self.decide(ctx, found[0].id, approve=False, reason=found[1])

    async def _approve_button(self, ctx: Context, event: ActionInvoked) -> None:
        await self._decision_button(ctx, event, approve=True)

    async def _decline_button(self, ctx: Context, event: ActionInvoked) -> None:
        await self._decision_button(ctx, event, approve=False)

    async def _decision_button(self, ctx: Context, event: ActionInvoked, approve: bool) -> None:
        raw_id, _, offered = event.value.partition(":")
        if not ctx.is_moderator:
            ctx.reply("Only moderators can approve or decline mentors.")
        elif raw_id.isdigit():
            await self.decide(ctx, int(raw_id), approve=approve, reason="", offered=offered)

    async def decide(self, ctx: Context, member_id: int, approve: bool, reason: str, offered: str = "") -> None:
        offer = await ctx.tx.pairing.mentor(member_id)
        pseudonym = await self._pseudonym(ctx.tx, member_id)
        if offer is not None and offered and offered != self._offer_ref(offer).partition(":")[2]:
            ctx.reply(STALE)
            return
        if offer is None or offer.status is not MentorStatus.PENDING:
            ctx.reply(f"{pseudonym} has no mentor offer waiting for a decision"
                      + (f" (it is {offer.status.value.replace('_', ' ')})." if offer else "."))
            return
        target = MentorStatus.APPROVED if approve else MentorStatus.DECLINED
        offer = await self._move_offer(ctx, offer, target, ctx.user.key, decided_at=ctx.now,
                                       decided_by=ctx.user.key)
        verdict = "✅ Approved" if approve else "Declined"
        if offer.alert_key:
            ctx.emit(EditMessage(offer.alert_key, OutboundMessage(
                f"🧭 Mentor offer · **{pseudonym}** · {verdict} by {ctx.user.user_id}.\n"
                f"Offers: {self._describe_offer(offer)}")))
        if approve:
            await self._dm(ctx, member_id, APPROVED)
        else:
            why = f" ({reason.strip()})" if reason.strip() and not ctx.held else ""
            await self._dm(ctx, member_id, DECLINED.format(reason=why) + "\n" + self.footer)
        ctx.reply(f"{verdict}: {pseudonym}'s offer to mentor. They have been told.")
        log.info("mentor offer decided", extra={"member": member_id, "approved": approve})
        if approve:
            await self.match_waitlist(ctx)

    # ------------------------------------------------------------ matching

    async def pair_command(self, ctx: Context, command: Command) -> None:
        if (member := await self._member(ctx)) is None:
            return
        sub = command.arg(0).lower()
        if sub == "end":
            await self._end_command(ctx, member, command.rest(1))
        elif sub == "share":
            await self._share_command(ctx, member, command.rest(1))
        elif sub == "feedback":
            await self._feedback_note(ctx, member, command.rest(1))
        elif sub == "cancel":
            await self._cancel_request(ctx, member)
        elif sub == "status":
            await self._status(ctx, member)
        else:
            await self.ask_for_mentor(ctx, member, command.rest(0))

    async def ask_for_mentor(self, ctx: Context, member: Member, note: str) -> None:
        note = note.strip()[:500]
        if ctx.held and note:
            note = ""
            ctx.reply(MENTEE_NOTE_DROPPED)
        current = [p for p in await ctx.tx.pairing.active_pairings_of(member.id) if p.mentee_id == member.id]
        if current:
            mentor = await self._pseudonym(ctx.tx, current[0].mentor_id)
            ctx.reply(f"You already have a mentor, **{mentor}**. Write to me here to talk with them; "
                      "`/peer pair end` ends the pairing if you'd like someone else.")
            return
        if await ctx.tx.pairing.open_proposal_of_mentee(member.id) is not None:
            ctx.reply("I'm still waiting for a mentor's answer for you; I'll tell you as soon as I hear.")
            return
        request = await ctx.tx.pairing.request(member.id)
        if request is not None and request.waiting:
            ctx.reply(f"You're on the waitlist since {request.requested_at:%d %b}. I'll match you as soon as a "
                      "mentor is free. `/peer pair cancel` takes you off it.")
            return
        if not member.topics:
            ctx.reply(NEED_TOPICS)
            return
        request = PairRequest(member.id, member.topics, note or None, ctx.now)
        await ctx.tx.pairing.save_request(request)
        match = await self._propose(ctx, member, request)
        if match is None:
            await ctx.tx.pairing.save_request(replace(request, waiting=True))
            await ctx.tx.pairing.count("waitlisted", ctx.now)
            ctx.reply(waitlist_text(self._groups(ctx.user.platform), self.footer))
            return
        ctx.reply(f"I've found a mentor for you: {reasons_text(match.shared_topics, match.hours_apart, self.labels)}. "
                  f"I've asked them, and I'll tell you as soon as they answer (within "
                  f"{self.settings.proposal_expiry_hours:g} hours). You'll see their pseudonym and can still say no.")

    async def _candidates(self, ctx: Context, mentee: Member,
                          request: PairRequest) -> tuple[list[Match], dict[int, MentorLoad]]:
        tx = ctx.tx
        # Only mentors of the mentee's own community (platform and workspace or server): its moderators approved
        # them, and a contact shared later must reach someone on the same platform.
        home = {(u.platform, u.workspace) for u in await tx.members.identities(mentee.id)}
        loads = {}
        for m in await tx.pairing.mentors_with_load(MentorStatus.APPROVED):
            if home & {(u.platform, u.workspace) for u in await tx.members.identities(m.offer.member_id)}:
                loads[m.offer.member_id] = m
        # Never a former mentor; a mentor already asked for this request waits a while before being asked again.
        asked_since = max(request.requested_at, ctx.now - REASK_AFTER)
        never = (await tx.pairing.former_mentors(mentee.id)
                 | await tx.pairing.mentors_asked_since(mentee.id, asked_since))
        mentors = [MentorCandidate(
            member_id=m.offer.member_id, topics=frozenset(m.offer.topics), languages=frozenset(m.offer.languages),
            utc_offset=utc_offset_hours(m.offer.timezone, ctx.now), capacity=m.offer.capacity, load=m.load,
            last_new_mentee_at=m.offer.last_new_mentee_at,
        ) for m in loads.values()]
        needs = MenteeNeeds(mentee.id, frozenset(request.topics),
                            frozenset({mentee.language or self.languages[0]}),
                            utc_offset_hours(mentee.timezone, ctx.now))
        return rank_mentors(needs, mentors, never), loads

    async def _propose(self, ctx: Context, mentee: Member, request: PairRequest) -> Match | None:
        """Ask the best candidate; None if nobody can be asked."""
        matches, loads = await self._candidates(ctx, mentee, request)
        if not matches:
            return None
        best = matches[0]
        chosen = loads[best.mentor_id]
        proposal = await ctx.tx.pairing.add_proposal(mentee.id, best.mentor_id, best.shared_topics, best.hours_apart,
                                                     ctx.now + self.expiry, ctx.now)
        await ctx.tx.pairing.audit(f"proposal:{proposal.id}", None, proposal.state.value, SYSTEM, ctx.now)
        await self._dm(ctx, best.mentor_id, proposal_for_mentor(
            mentee.pseudonym, topic_names(best.shared_topics, self.labels), best.hours_apart, request.note,
            self.settings.proposal_expiry_hours, chosen.load, chosen.offer.capacity,
        ), (Choice("Accept", "pair.accept", str(proposal.id), "primary"),
            Choice("Decline", "pair.refuse", str(proposal.id))), key=f"proposal:{proposal.id}:mentor")
        log.info("mentor proposed", extra={"proposal": proposal.id})
        return best

    async def _continue_request(self, ctx: Context, mentee_id: int) -> None:
        """The last proposal did not work out: ask the next candidate, or put the mentee on the waitlist."""
        request = await ctx.tx.pairing.request(mentee_id)
        mentee = await ctx.tx.members.get(mentee_id)
        if request is None or mentee is None:
            return
        if await self._propose(ctx, mentee, request) is not None:
            return
        if not request.waiting:
            await ctx.tx.pairing.save_request(replace(request, waiting=True))
            await ctx.tx.pairing.count("waitlisted", ctx.now)
            identities = await ctx.tx.members.identities(mentee_id)
            platform = identities[0].platform if identities else "console"
            await self._dm(ctx, mentee_id, waitlist_text(self._groups(platform), self.footer))

    async def match_waitlist(self, ctx: Context) -> int:
        """Capacity may have freed: propose to whoever waits longest, as far as mentors allow."""
        proposed = 0
        for request in await ctx.tx.pairing.waiting(200):
            mentee = await ctx.tx.members.get(request.member_id)
            if mentee is None:
                continue
            match = await self._propose(ctx, mentee, request)
            if match is None:
                continue
            proposed += 1
            await ctx.tx.pairing.save_request(replace(request, waiting=False))
            await self._dm(ctx, mentee.id, f"A mentor may be free for you now: "
                           f"{reasons_text(match.shared_topics, match.hours_apart, self.labels)}. I've asked them "
                           "and will tell you as soon as they answer.")
        return proposed

    async def _cancel_request(self, ctx: Context, member: Member) -> None:
        proposal = await ctx.tx.pairing.open_proposal_of_mentee(member.id)
        if proposal is not None:
            await self._move_proposal(ctx, proposal, ProposalState.CANCELLED, "mentee")
            await self._dm(ctx, proposal.mentor_id, f"{member.pseudonym} no longer needs a mentor right now, so "
                           "that proposal is closed. Thank you.")
        if await ctx.tx.pairing.request(member.id) is None and proposal is None:
            ctx.reply("You're not waiting for a mentor. `/peer pair` asks for one.")
            return
        await ctx.tx.pairing.delete_request(member.id)
        ctx.reply("Done: you're no longer waiting for a mentor. `/peer pair` any time to ask again.")
        if proposal is not None:
            await self.match_waitlist(ctx)

    async def _status(self, ctx: Context, member: Member) -> None:
        lines = []
        for pairing in await ctx.tx.pairing.active_pairings_of(member.id):
            other = pairing.other(member.id)
            role = "mentor" if pairing.mentee_id == member.id else "mentee"
            lines.append(f"• paired with **{await self._pseudonym(ctx.tx, other)}** (your {role}) since "
                         f"{pairing.started_at:%d %b}")
        request = await ctx.tx.pairing.request(member.id)
        if request is not None:
            lines.append("• on the waitlist for a mentor" if request.waiting else "• waiting for a mentor's answer")
        ctx.reply("\n".join(["Your mentor pairing:", *lines]) if lines else NO_PAIRING)

    # ------------------------------------------------------------ double opt-in

    async def _own_proposal(self, ctx: Context, raw_id: str, side: str,
                            state: ProposalState) -> tuple[Member, Proposal] | None:
        member = await ctx.tx.members.by_user(ctx.user)
        proposal = await ctx.tx.pairing.proposal(int(raw_id)) if raw_id.isdigit() else None
        owner = None if proposal is None else (proposal.mentor_id if side == "mentor" else proposal.mentee_id)
        if member is None or proposal is None or owner != member.id or proposal.state is not state:
            ctx.reply(STALE)
            return None
        return member, proposal

    async def _accept_button(self, ctx: Context, event: ActionInvoked) -> None:
        found = await self._own_proposal(ctx, event.value, "mentor", ProposalState.ASKED_MENTOR)
        if found is None:
            return
        member, proposal = found
        await self._move_proposal(ctx, proposal, ProposalState.MENTOR_ACCEPTED, "mentor", ctx.now + self.expiry)
        offer = await ctx.tx.pairing.mentor(member.id)
        mentee = await self._pseudonym(ctx.tx, proposal.mentee_id)
        await self._dm(ctx, proposal.mentee_id, proposal_for_mentee(
            member.pseudonym, reasons_text(proposal.shared_topics, proposal.tz_hours_apart, self.labels),
            offer.intro if offer else "", offer.availability if offer else "", self.settings.proposal_expiry_hours,
        ), (Choice("Start", "pair.start", str(proposal.id), "primary"),
            Choice("Not for me", "pair.notforme", str(proposal.id))), key=f"proposal:{proposal.id}:mentee")
        ctx.reply(f"Thank you! I've asked {mentee} whether they'd like to start; I'll tell you when they answer.")

    async def _refuse_button(self, ctx: Context, event: ActionInvoked) -> None:
        found = await self._own_proposal(ctx, event.value, "mentor", ProposalState.ASKED_MENTOR)
        if found is None:
            return
        _, proposal = found
        await self._move_proposal(ctx, proposal, ProposalState.MENTOR_DECLINED, "mentor")
        ctx.reply("No problem, thank you for saying so. I'll ask someone else. (`/peer mentor pause` stops new "
                  "proposals for a while.)")
        await self._continue_request(ctx, proposal.mentee_id)

    async def _start_button(self, ctx: Context, event: ActionInvoked) -> None:
        found = await self._own_proposal(ctx, event.value, "mentee", ProposalState.MENTOR_ACCEPTED)
        if found is None:
            return
        member, proposal = found
        await self._move_proposal(ctx, proposal, ProposalState.STARTED, "mentee")
        pairing = await ctx.tx.pairing.add_pairing(
            member.id, proposal.mentor_id, proposal.shared_topics, ctx.now,
            ctx.now + timedelta(days=self.settings.followup_days))
        await ctx.tx.pairing.audit(f"pairing:{pairing.id}", None, pairing.state.value, "mentee", ctx.now)
        if (request := await ctx.tx.pairing.request(member.id)) is not None:
            await ctx.tx.activity.pairing_started(pairing.id, request.requested_at)  # the wait-to-match figure
        await ctx.tx.pairing.delete_request(member.id)
        await ctx.tx.pairing.count("started", ctx.now)
        offer = await ctx.tx.pairing.mentor(proposal.mentor_id)
        if offer is not None:
            await ctx.tx.pairing.save_mentor(replace(offer, last_new_mentee_at=ctx.now))
        mentor = await self._pseudonym(ctx.tx, proposal.mentor_id)
        share = (Choice("Share contact", "pair.share", str(pairing.id)),)
        ctx.reply(started_text(mentor, "mentor", self.footer), share)
        await self._dm(ctx, proposal.mentor_id, f"{member.pseudonym} said yes! "
                       + started_text(member.pseudonym, "mentee", self.footer), share)
        log.info("pairing started", extra={"pairing": pairing.id})

    async def _not_for_me_button(self, ctx: Context, event: ActionInvoked) -> None:
        found = await self._own_proposal(ctx, event.value, "mentee", ProposalState.MENTOR_ACCEPTED)
        if found is None:
            return
        member, proposal = found
        await self._move_proposal(ctx, proposal, ProposalState.MENTEE_DECLINED, "mentee")
        await self._dm(ctx, proposal.mentor_id, f"{member.pseudonym} decided not to go ahead this time. That's "
                       "about what they need right now, not about you. Thank you for offering.")
        ctx.reply("That's completely fine. I'll look for someone else and tell you.")
        await self._continue_request(ctx, member.id)

    # ------------------------------------------------------------ the conversation (relay)

    async def _relay_dm(self, ctx: Context, event: MessageReceived) -> bool:
        member = await ctx.tx.members.by_user(ctx.user)
        if member is None:
            return False
        pairings = await ctx.tx.pairing.active_pairings_of(member.id)
        if not pairings:
            return False
        await self._send(ctx, member, pairings, event.text)
        return True

    async def say_command(self, ctx: Context, command: Command) -> None:
        if (member := await self._member(ctx)) is None:
            return
        pairings = await ctx.tx.pairing.active_pairings_of(member.id)
        if not pairings:
            ctx.reply(NO_PAIRING)
            return
        named, text = await self._pick(ctx, member, command.rest(0))
        if named is not None:
            pairings = [named]
        elif text.startswith("@") and not ctx.held:
            ctx.reply("You're not paired with anyone of that name. " + SAY_USAGE)
            return
        if not text and not ctx.held:
            ctx.reply(SAY_USAGE)
            return
        await self._send(ctx, member, pairings, text)

    async def _send(self, ctx: Context, member: Member, pairings: list[Pairing], text: str) -> None:
        if ctx.held:  # the screen found crisis language: the person got resources, moderators an alert
            ctx.reply(NOT_RELAYED)
            log.info("relay withheld for a moderator", extra={"member": member.id})
            return
        if len(pairings) == 1:
            await self._relay(ctx, member, pairings[0], text)
            return
        await ctx.tx.pairing.save_draft(member.id, text, ctx.now)
        choices = []
        for pairing in pairings:
            role = "mentor" if pairing.mentee_id == member.id else "mentee"
            choices.append(Choice(f"{await self._pseudonym(ctx.tx, pairing.other(member.id))} ({role})", "pair.to",
                                  str(pairing.id)))
        ctx.reply("You're in more than one pairing: who is this message for? (Or type `/peer say @<pseudonym> "
                  "<text>`.)", tuple(choices))

    async def _relay(self, ctx: Context, member: Member, pairing: Pairing, text: str) -> None:
        role = "mentor" if pairing.mentor_id == member.id else "mentee"
        await ctx.tx.activity.record(member.id, week_of(ctx.now), "pair")  # counts only, for program figures
        # Only the pseudonym and the text (mentions neutralised) travel; nothing of it is stored past delivery.
        await self._dm(ctx, pairing.other(member.id), relayed_text(member.pseudonym, role, text))

    async def _own_pairing(self, ctx: Context, raw_id: str, mentee_only: bool = False) -> tuple[Member, Pairing] | None:
        """The presser and the active pairing a button names, if the presser is in it (else: no longer open)."""
        member = await ctx.tx.members.by_user(ctx.user)
        pairing = await ctx.tx.pairing.pairing(int(raw_id)) if raw_id.isdigit() else None
        sides = () if pairing is None else (pairing.mentee_id,) if mentee_only else (pairing.mentee_id,
                                                                                     pairing.mentor_id)
        if member is None or pairing is None or pairing.state is not PairingState.ACTIVE or member.id not in sides:
            ctx.reply(STALE)
            return None
        return member, pairing

    async def note_or_message(self, ctx: Context, member: Member, text: str) -> bool:
        """A DM right after a check-in answer from a paired member: a private note or a message for the other
        side? Asked rather than guessed: a note must never reach the mentor by mistake, nor a message be kept
        from them."""
        return await self._keep_or_pass_on(ctx, member, text, "note")

    async def suggestion_or_message(self, ctx: Context, member: Member, text: str) -> bool:
        """The same question for a DM while the survey's optional suggestion is open."""
        return await self._keep_or_pass_on(ctx, member, text, "suggestion")

    async def _keep_or_pass_on(self, ctx: Context, member: Member, text: str, purpose: str) -> bool:
        pairings = await ctx.tx.pairing.active_pairings_of(member.id)
        if not pairings or purpose not in self.keepers:
            return False
        await ctx.tx.pairing.save_draft(member.id, text, ctx.now)
        question, keep_label = KEEP_OR_PASS_ON[purpose]
        choices = [Choice(keep_label, "pair.note", purpose, "primary")]
        for pairing in pairings:
            role = "mentor" if pairing.mentee_id == member.id else "mentee"
            choices.append(Choice(f"Send to {await self._pseudonym(ctx.tx, pairing.other(member.id))} ({role})",
                                  "pair.to", str(pairing.id)))
        ctx.reply(question, tuple(choices))
        return True

    async def _note_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None:
            return
        draft = await ctx.tx.pairing.take_draft(member.id)
        keeper = self.keepers.get(event.value or "note")
        if draft is None or ctx.now - draft[1] > DRAFT_TTL or keeper is None:
            ctx.reply(DRAFT_GONE)
            return
        await keeper(ctx, member, draft[0])

    async def _draft_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (found := await self._own_pairing(ctx, event.value)) is None:
            return
        member, pairing = found
        draft = await ctx.tx.pairing.take_draft(member.id)
        if draft is None or ctx.now - draft[1] > DRAFT_TTL:
            ctx.reply(DRAFT_GONE)
            return
        await self._relay(ctx, member, pairing, draft[0])
        ctx.reply(f"Sent to {await self._pseudonym(ctx.tx, pairing.other(member.id))}.")

    # ------------------------------------------------------------ share contact

    async def _pick(self, ctx: Context, member: Member, text: str) -> tuple[Pairing | None, str]:
        """The pairing a typed `@pseudonym` names (or the only one), and the rest of the text."""
        pairings = await ctx.tx.pairing.active_pairings_of(member.id)
        text = text.strip()
        if text.startswith("@"):
            body = text[1:]
            for pairing in pairings:
                name = await self._pseudonym(ctx.tx, pairing.other(member.id))
                if body.casefold().startswith(name.casefold()) and body[len(name):len(name) + 1] in ("", " "):
                    return pairing, body[len(name):].strip()
            return None, text
        return (pairings[0] if len(pairings) == 1 else None), text

    async def _share_command(self, ctx: Context, member: Member, rest: str) -> None:
        pairing, _ = await self._pick(ctx, member, rest)
        if pairing is None:
            ctx.reply(NO_PAIRING if not await ctx.tx.pairing.active_pairings_of(member.id) else
                      "Which pairing? `/peer pair share @<pseudonym>`.")
            return
        await self.share_contact(ctx, member, pairing)

    async def _share_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (found := await self._own_pairing(ctx, event.value)) is not None:
            await self.share_contact(ctx, *found)

    async def share_contact(self, ctx: Context, member: Member, pairing: Pairing) -> None:
        side = pairing.side_of(member.id)
        other_id = pairing.other(member.id)
        other = await self._pseudonym(ctx.tx, other_id)
        if (pairing.mentee_shares if side == "mentee" else pairing.mentor_shares):
            ctx.reply(f"You've already chosen to share contact; {other} hasn't yet. Nothing is shared unless "
                      "they choose it too.")
            return
        await ctx.tx.pairing.set_shares(pairing.id, side)
        others_choice = pairing.mentor_shares if side == "mentee" else pairing.mentee_shares
        if not others_choice:
            ctx.reply(f"Noted. I'll ask {other}; nothing is shared unless they choose it too.")
            await self._dm(ctx, other_id, f"{member.pseudonym} would like to share contact details with you, so "
                           "you can talk directly. Only if you'd like that too: press Share contact. No pressure; "
                           "you can keep talking here anonymously.",
                           (Choice("Share contact", "pair.share", str(pairing.id)),))
            return
        await ctx.tx.pairing.audit(f"pairing:{pairing.id}", "active", "contact_shared", side, ctx.now)
        for me, them in ((member.id, other_id), (other_id, member.id)):
            identities = await ctx.tx.members.identities(them)
            if not identities:
                continue
            who = await self._describe_identity(identities[0])
            await self._dm(ctx, me, f"You both chose to share contact. **{await self._pseudonym(ctx.tx, them)}** "
                           f"is {who}. You can message each other directly now; I'll keep relaying here too.")

    async def _describe_identity(self, user: UserRef) -> str:
        name = ""
        platform = self.app.platforms.get(user.platform)
        if platform is not None:
            try:
                async with asyncio.timeout(3):
                    name = (await platform.get_user(user)).display_name
            except Exception:
                log.warning("could not read a display name for a contact introduction",
                            extra={"platform": user.platform})
        return f"{name or user.user_id} on {user.platform} (user id {user.user_id})"

    # ------------------------------------------------------------ ending and rematching

    async def _end_command(self, ctx: Context, member: Member, rest: str) -> None:
        pairings = await ctx.tx.pairing.active_pairings_of(member.id)
        if not pairings:
            ctx.reply(NO_PAIRING)
            return
        pairing, reason = await self._pick(ctx, member, rest)
        category = reason_category(reason)
        if pairing is None:
            choices = [Choice(f"End with {await self._pseudonym(ctx.tx, p.other(member.id))}", "pair.end",
                              f"{p.id}:{category}") for p in pairings]
            ctx.reply("Which pairing would you like to end?", tuple(choices))
            return
        await self.end_pairing(ctx, member, pairing, category)

    async def _end_button(self, ctx: Context, event: ActionInvoked) -> None:
        raw_id, _, category = event.value.partition(":")
        if (found := await self._own_pairing(ctx, raw_id)) is None:
            return
        member, pairing = found
        await self.end_pairing(ctx, member, pairing, category if category in (*END_REASONS, "other") else "not_given")

    async def end_pairing(self, ctx: Context, member: Member, pairing: Pairing, category: str) -> None:
        side = pairing.side_of(member.id)
        other_id = pairing.other(member.id)
        other = await self._pseudonym(ctx.tx, other_id)
        await self._end(ctx, pairing, side, category)
        other_is_mentee = side == "mentor"
        await self._dm(ctx, other_id, ended_for_other(member.pseudonym, side, other_is_mentee, ""),
                       self._rematch_choices() if other_is_mentee else ())
        if side == "mentee":
            ctx.reply(f"Your pairing with {other} has ended, and they've been told kindly. Thank you for giving it "
                      "a go. Would you like me to find you another mentor?", self._rematch_choices())
        else:
            ctx.reply(f"Your pairing with {other} has ended, and they've been told kindly and offered a new match. "
                      "Thank you for the support you gave.")
        await self.match_waitlist(ctx)

    async def _rematch_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None:
            return
        for pairing in await ctx.tx.pairing.active_pairings_of(member.id):
            if pairing.mentee_id == member.id:  # a low follow-up score: this pairing ends first
                await self._end(ctx, pairing, "mentee", "rematch")
                await self._dm(ctx, pairing.mentor_id, ended_for_other(member.pseudonym, "mentee", False, ""))
        await self.ask_for_mentor(ctx, member, "")

    async def _keep_button(self, ctx: Context, event: ActionInvoked) -> None:
        ctx.reply("Okay. `/peer pair` whenever you'd like a mentor." if event.value == "later" else
                  "Okay, keep going. `/peer pair end` any time if that changes.")

    async def member_leaving(self, ctx: Context, member: Member) -> None:
        """Before a member is forgotten: the other side of each pairing is told kindly, waiting mentees re-matched."""
        offer = await ctx.tx.pairing.mentor(member.id)
        if offer is not None and MentorStatus.STEPPED_DOWN in MENTOR_TRANSITIONS[offer.status]:
            await self._move_offer(ctx, offer, MentorStatus.STEPPED_DOWN, "mentor")  # never proposed while leaving
        await self._release_mentees(ctx, member, "left", "left", " because they left the community")
        for pairing in await ctx.tx.pairing.active_pairings_of(member.id):
            await self._end(ctx, pairing, "left", "left")
            await self._dm(ctx, pairing.mentor_id, f"Your mentee **{member.pseudonym}** has left the community, so "
                           "your pairing has ended. Thank you for the support you gave.")
        proposal = await ctx.tx.pairing.open_proposal_of_mentee(member.id)
        if proposal is not None:
            await self._move_proposal(ctx, proposal, ProposalState.CANCELLED, SYSTEM)
        await ctx.tx.pairing.delete_request(member.id)
        await self.match_waitlist(ctx)

    # ------------------------------------------------------------ follow-up and feedback

    async def _feedback_button(self, ctx: Context, event: ActionInvoked) -> None:
        raw_id, _, raw_score = event.value.partition(":")
        member = await ctx.tx.members.by_user(ctx.user)
        feedback = await ctx.tx.pairing.feedback(int(raw_id)) if raw_id.isdigit() else None
        if member is None or feedback is None or feedback.member_id != member.id or not raw_score.isdigit() or \
                int(raw_score) not in SCORES:
            ctx.reply(STALE)
            return
        if feedback.answered_at is not None:
            ctx.reply("You already answered this one. Thank you!")
            return
        score = int(raw_score)
        await ctx.tx.pairing.answer_feedback(feedback.id, score, ctx.now)
        await ctx.tx.pairing.count(f"score:{feedback.side}:{score}", ctx.now)
        ctx.reply(FEEDBACK_THANKS)
        if score > self.settings.low_score_threshold:
            return
        pairing = await ctx.tx.pairing.pairing(feedback.pairing_id)
        if pairing is None or pairing.state is not PairingState.ACTIVE:
            return
        if feedback.side == "mentee":
            ctx.reply("I'm sorry it isn't going well. That happens, and it's nobody's fault. Would you like a "
                      "different mentor?", (Choice("Find a different mentor", "pair.rematch", "", "primary"),
                                            Choice("Keep going", "pair.keep", "keep")))
        else:
            ctx.reply("Thank you for being honest. Mentoring can be hard. You can end the pairing kindly with "
                      "`/peer pair end`, and a moderator is glad to talk it through with you.\n" + self.footer)

    async def _feedback_note(self, ctx: Context, member: Member, text: str) -> None:
        latest = next(iter(await ctx.tx.pairing.feedback_of(member.id)), None)
        if latest is None or latest.answered_at is None or latest.note is not None or \
                ctx.now - latest.answered_at > FEEDBACK_NOTE_WINDOW or not text.strip():
            ctx.reply("A note goes with your answer to the last “how is it going?” question, within three days.")
            return
        await ctx.tx.pairing.set_feedback_note(latest.id, text.strip()[:1000])
        if not ctx.held:
            ctx.reply(FEEDBACK_NOTE_SAVED)

    # ------------------------------------------------------------ check-ins: a falling trend

    async def trend_choices(self, ctx: Context, member: Member) -> list[Choice]:
        """Offered with a falling check-in trend: telling the mentor, only if the member presses it."""
        return [Choice("Tell my mentor", "pair.tell", str(p.id)) for p in
                await ctx.tx.pairing.active_pairings_of(member.id) if p.mentee_id == member.id][:1]

    async def _tell_mentor_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (found := await self._own_pairing(ctx, event.value, mentee_only=True)) is None:
            return
        member, pairing = found
        await self._dm(ctx, pairing.mentor_id, f"Your mentee **{member.pseudonym}** asked me to let you know that "
                       "their check-ins have been low lately. A kind word from you could help. If you're worried "
                       "about their safety, tell a moderator.")
        ctx.reply(f"I've let {await self._pseudonym(ctx.tx, pairing.mentor_id)} know, and only that.")

    # ------------------------------------------------------------ moderators: the waitlist

    async def waitlist_summary(self, tx: Transaction, now: datetime) -> str:
        waiting = await tx.pairing.waiting(100_000)
        per_topic: dict[str, int] = {}
        for request in waiting:
            for topic in request.topics:
                per_topic[topic] = per_topic.get(topic, 0) + 1
        counts = await tx.pairing.mentor_counts()
        approved = await tx.pairing.mentors_with_load(MentorStatus.APPROVED)
        free = sum(1 for m in approved if m.load < m.offer.capacity)
        pending = [await self._pseudonym(tx, m.offer.member_id)
                   for m in await tx.pairing.mentors_with_load(MentorStatus.PENDING)]
        lines = [f"Waiting for a mentor: {len(waiting)}"]
        lines += [f"• {self.labels.get(t, t)}: {n}" for t, n in sorted(per_topic.items(), key=lambda i: (-i[1], i[0]))]
        lines.append(f"Mentors: {counts[MentorStatus.APPROVED]} approved ({free} with room), "
                     f"{counts[MentorStatus.PAUSED]} paused, {len(pending)} awaiting approval"
                     + (f" ({', '.join(pending)})" if pending else ""))
        return "\n".join(lines)

    async def mod_waitlist(self, ctx: Context, command: Command) -> None:
        ctx.reply(await self.waitlist_summary(ctx.tx, ctx.now))

    # ------------------------------------------------------------ the tick

    async def next_due(self) -> datetime | None:
        async with self.app.work("pairing:hint") as ctx:
            oldest_draft = await ctx.tx.pairing.oldest_draft()
            times = [t for t in (await ctx.tx.pairing.next_expiry(), await ctx.tx.pairing.next_followup(),
                                 oldest_draft + DRAFT_TTL if oldest_draft else None) if t]
        return min(times) if times else None

    async def run_due(self, now: datetime) -> None:
        """Expire unanswered proposals (trying the next candidate), ask due follow-ups, drop stale drafts."""
        async with self.app.work(f"pairing:{now.isoformat()}", now=now) as ctx:
            for proposal in await ctx.tx.pairing.expired_proposals(now, 100):
                await self._expire(ctx, proposal)
            for pairing in await ctx.tx.pairing.due_followups(now, 200):
                await ctx.tx.pairing.clear_followup(pairing.id)
                for member_id, role in ((pairing.mentee_id, "mentor"), (pairing.mentor_id, "mentee")):
                    side = "mentee" if role == "mentor" else "mentor"
                    feedback_id = await ctx.tx.pairing.add_feedback(pairing.id, member_id, side, now)
                    other = await self._pseudonym(ctx.tx, pairing.other(member_id))
                    await self._dm(ctx, member_id, followup_text(other, role), tuple(
                        Choice(f"{n} · {label}", "pair.fb", f"{feedback_id}:{n}") for n, label in SCORES.items()),
                        key=f"pair-feedback:{feedback_id}")
            await ctx.tx.pairing.purge_drafts(now - DRAFT_TTL)

    async def _expire(self, ctx: Context, proposal: Proposal) -> None:
        await self._move_proposal(ctx, proposal, ProposalState.EXPIRED, SYSTEM)
        mentee = await self._pseudonym(ctx.tx, proposal.mentee_id)
        if proposal.state is ProposalState.ASKED_MENTOR:
            await self._dm(ctx, proposal.mentor_id, f"The request from {mentee} has lapsed, and that's fine: I've "
                           "asked someone else. If you're busy for a while, `/peer mentor pause`.",
                           key=f"proposal:{proposal.id}:lapsed")
            await self._continue_request(ctx, proposal.mentee_id)
        else:
            await self._dm(ctx, proposal.mentor_id, f"{mentee} didn't answer in time, so that proposal has lapsed. "
                           "Thank you for saying yes.", key=f"proposal:{proposal.id}:lapsed")
            await ctx.tx.pairing.delete_request(proposal.mentee_id)
            await self._dm(ctx, proposal.mentee_id, "The mentor proposal I sent you has lapsed. No problem: type "
                           "`/peer pair` whenever you'd like me to look again.", key=f"proposal:{proposal.id}:gone")
            await self.match_waitlist(ctx)

    # ------------------------------------------------------------ data rights

    async def export(self, tx: Transaction, member: Member) -> dict[str, object]:
        offer = await tx.pairing.mentor(member.id)
        request = await tx.pairing.request(member.id)
        pairings = []
        for p in await tx.pairing.pairings_of(member.id):
            pairings.append({"role": "mentee" if p.mentee_id == member.id else "mentor",
                             "with": await self._pseudonym(tx, p.other(member.id)), "topics": list(p.shared_topics),
                             "state": p.state.value, "started_at": p.started_at.isoformat(),
                             "ended_at": p.ended_at.isoformat() if p.ended_at else None, "end_reason": p.end_reason,
                             "you_chose_share_contact": p.mentee_shares if p.mentee_id == member.id
                             else p.mentor_shares})
        return {
            "mentor_offer": None if offer is None else {
                "status": offer.status.value, "topics": list(offer.topics), "languages": list(offer.languages),
                "timezone": offer.timezone, "capacity": offer.capacity, "availability": offer.availability,
                "intro": offer.intro, "offered_at": offer.offered_at.isoformat()},
            "request": None if request is None else {
                "topics": list(request.topics), "note": request.note, "waiting": request.waiting,
                "requested_at": request.requested_at.isoformat()},
            "proposals": [{"role": "mentee" if q.mentee_id == member.id else "mentor",
                           # a mentee learns a mentor's pseudonym only once that mentor accepted
                           "with": await self._pseudonym(tx, q.mentee_id) if q.mentor_id == member.id
                           else await self._pseudonym(tx, q.mentor_id) if q.state in SHOWN_TO_MENTEE else None,
                           "topics": list(q.shared_topics), "state": q.state.value,
                           "created_at": q.created_at.isoformat()} for q in await tx.pairing.proposals_of(member.id)],
            "pairings": pairings,
            "feedback": [{"asked_at": f.asked_at.isoformat(), "score": f.score, "note": f.note, "as": f.side}
                         for f in await tx.pairing.feedback_of(member.id)],
        }

    # ------------------------------------------------------------ onboarding: the "mentor" role

    async def profile_changed(self, ctx: Context, member: Member, step: str) -> None:
        """A member who chose the mentor role offers to mentor once onboarding is done (if they have topics)."""
        if member.role != "mentor" or member.onboarding_step != "done":
            return
        if await ctx.tx.pairing.mentor(member.id) is not None:
            return
        if not member.topics:
            ctx.reply(MENTOR_NEEDS_TOPICS)
            return
        await self.offer(ctx, member, from_profile=True)

    async def pair_location(self, ctx: Context) -> str | None:
        """For the safety alert: a DM to the bot or `/peer say` from a paired member is a pair conversation."""
        event = ctx.event
        is_dm = isinstance(event, MessageReceived) and event.conversation.kind == "dm"
        is_say = isinstance(event, CommandInvoked) and parse_command(event.text).verb == "say"
        if not is_dm and not is_say:
            return None
        member = await ctx.tx.members.by_user(ctx.user)
        if member is None or not await ctx.tx.pairing.active_pairings_of(member.id):
            return None
        return ("a message for their mentor pairing (/peer say; held, not passed on)" if is_say else
                "DM with the bot during a mentor pairing (held, not passed on)")
