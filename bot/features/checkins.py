"""Scheduled mood check-ins: each member's own schedule in their timezone, a DM with mood buttons, gentle follow-up
when they go quiet, support options when their answers fall, and `/peer mood` to see their own history.

The schedule lives in the store (`next_checkin_at` in UTC); a tick claims what is due in batches. The next time is
computed from the member's IANA timezone after *now*, so a daylight-saving change neither skips nor doubles a
check-in and a bot that was down sends one catch-up check-in, not a burst.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.commands import Command
from bot.evaluation import week_of
from bot.events import (
    ActionInvoked,
    Choice,
    Form,
    FormField,
    FormSubmitted,
    MessageReceived,
    OutboundMessage,
    PostToModerators,
    SendDirect,
)
from bot.router import Context
from bot.store import Checkin, CheckinSchedule, Member, Priority, SentCheckin, Transaction

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FREQUENCIES = ("daily", "weekdays", "weekly", "days")
MOODS = {1: "Very low", 2: "Low", 3: "Okay", 4: "Good", 5: "Very good"}
SPARK = {1: "▁", 2: "▂", 3: "▄", 4: "▆", 5: "█"}
MISSES_BEFORE_SLOWING = 3
NOTE_WINDOW = timedelta(hours=2)
TREND_WINDOW = timedelta(days=7)
PAUSED_INDEFINITELY = datetime(9999, 1, 1, tzinfo=UTC)
_HHMM = re.compile(r"^([01]?\d|2[0-3])[:.h]?([0-5]\d)$")
_DURATION = re.compile(r"(\d+)\s*(h|d|w)", re.IGNORECASE)

# ---------------------------------------------------------------- what members read

CHECKIN_TEXT = "Time for a quick check-in. How are you feeling today?"
WE_ARE_HERE = ("Hi, I haven't heard from you for a few check-ins, and that's okay. I'll only check in once a week "
               "from now on; answer any time and I'll go back to your usual schedule. We're here whenever you need us.")
NOTE_THANKS = "Thank you for sharing that."
SKIPPED = "No problem. Talk soon."


def answered_text(mood: int) -> str:
    if mood <= 2:
        head = "Thank you for telling me. I'm sorry today is hard."
    elif mood == 3:
        head = "Thanks for checking in."
    else:
        head = "Thanks for checking in. Glad today is a better one."
    return head + " If you'd like to add a note, just write it here."


def trend_text(groups: list[str], crisis_footer: str) -> str:
    where = ", ".join(f"`{g}`" for g in groups) or "the groups"
    return "\n".join([
        "Your last few check-ins have been low. You don't have to carry this alone:",
        f"• talk with people who get it in the groups: `/peer post <group> <text>` ({where})",
        "• `/peer pair` asks for a mentor who has been there",
        crisis_footer,
    ])


def moderator_trend_text(pseudonym: str, moods: list[int]) -> str:
    return (f"Check-in trend: {pseudonym}'s recent check-ins are low ({', '.join(map(str, moods))}). They agreed "
            "that moderators may be told. They have been offered the groups, a mentor and the crisis line.")


def describe(schedule: CheckinSchedule) -> str:
    days = {"daily": "every day", "weekdays": "on weekdays",
            "weekly": f"every {WEEKDAYS[(schedule.days or (0,))[0]].capitalize()}",
            "days": "on " + ", ".join(WEEKDAYS[d].capitalize() for d in schedule.days)}[schedule.frequency]
    text = f"Check-ins {days} at {schedule.local_time} ({schedule.timezone})"
    if schedule.quiet_start and schedule.quiet_end:
        text += f", never between {schedule.quiet_start} and {schedule.quiet_end}"
    if schedule.slowed:
        text += "; weekly for now, until you answer one"
    if schedule.paused_until is not None:
        text += "; paused" + ("" if schedule.paused_until >= PAUSED_INDEFINITELY else
                              f" until {schedule.paused_until.astimezone(ZoneInfo(schedule.timezone)):%a %d %b %H:%M}")
    moderators = "moderators may be told of a falling trend" if schedule.share_trend else "moderators are not told"
    return f"{text}. {moderators.capitalize()}."


SETTINGS_HELP = ("Change with `/peer checkin daily 09:00`, `/peer checkin weekdays 18:30`, `/peer checkin weekly fri "
                 "10:00`, `/peer checkin days mon,wed,fri 09:00`, `/peer checkin time 08:15`, `/peer checkin quiet "
                 "22:00-07:00`, `/peer checkin share yes|no`, `/peer checkin off`; `/peer pause 3d`, `/peer resume`.")


SETTINGS_FORM_TITLE = "Check-in schedule"
FREQUENCY_LABELS = {"daily": "Every day", "weekdays": "Weekdays", "weekly": "Once a week",
                    "days": "On the days below", "off": "No check-ins"}


def settings_form(schedule: CheckinSchedule | None, default_time: str) -> Form:
    """The schedule as one form (Slack and Discord modals); every field has a typed `/peer checkin` equivalent."""
    quiet = f"{schedule.quiet_start}-{schedule.quiet_end}" if schedule and schedule.quiet_start else ""
    return Form(title=SETTINGS_FORM_TITLE, action="ci.form", intro="When should I check in with you?", fields=(
        FormField("frequency", "How often", "select", tuple(FREQUENCY_LABELS.items()),
                  (schedule.frequency if schedule else "daily",), required=True),
        FormField("days", "Which days (for once a week: one day)", "multiselect",
                  tuple((day, day.capitalize()) for day in WEEKDAYS),
                  tuple(WEEKDAYS[d] for d in schedule.days) if schedule else ()),
        FormField("time", "Time of day (your timezone)", initial=(schedule.local_time if schedule else default_time,),
                  placeholder="09:30", max_length=5, required=True),
        FormField("quiet", "Quiet hours (optional)", initial=(quiet,) if quiet else (), placeholder="22:00-07:00",
                  max_length=11),
        FormField("share", "May moderators be told of a hard stretch?", "select",
                  (("no", "No, keep it to me"), ("yes", "Yes, tell them")),
                  ("yes" if schedule and schedule.share_trend else "no",)),
    ))


def read_settings_form(event: FormSubmitted) -> tuple[dict[str, object], list[str]]:
    """The schedule changes a submitted settings form asks for, or the problems that stop it being saved.
    `frequency` "off" means check-ins off."""
    problems: list[str] = []
    frequency = event.first("frequency") or "daily"
    if frequency not in FREQUENCIES and frequency != "off":
        problems.append(f"how often: choose one of {', '.join(FREQUENCY_LABELS.values())}")
    changes: dict[str, object] = {"frequency": frequency, "slowed": False, "missed": 0}
    days = tuple(sorted({WEEKDAYS.index(d) for d in event.get("days") if d in WEEKDAYS}))
    if frequency == "weekly" and len(days) != 1:
        problems.append("once a week: choose exactly one day")
    elif frequency == "days" and not days:
        problems.append("on chosen days: choose at least one day")
    changes["days"] = days if frequency in ("weekly", "days") else ()
    at = parse_hhmm(event.first("time") or "")
    if at is None:
        problems.append(f"time of day: write it like 09:30 (got `{event.first('time')}`)")
    else:
        changes["local_time"] = at.strftime("%H:%M")
    quiet = event.first("quiet")
    if quiet:
        start, _, end = quiet.partition("-")
        begin, finish = parse_hhmm(start), parse_hhmm(end)
        if begin is None or finish is None or begin == finish:
            problems.append("quiet hours: write them like 22:00-07:00, or leave them empty")
        else:
            changes["quiet_start"], changes["quiet_end"] = begin.strftime("%H:%M"), finish.strftime("%H:%M")
    else:
        changes["quiet_start"] = changes["quiet_end"] = None
    changes["share_trend"] = event.first("share") == "yes"
    return changes, problems


# ---------------------------------------------------------------- pure decisions


@functools.lru_cache(maxsize=4096)
def parse_hhmm(value: str) -> time | None:
    match = _HHMM.match(value.strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


def parse_duration(value: str) -> timedelta | None:
    parts = _DURATION.findall(value)
    if not parts or _DURATION.sub("", value).strip():
        return None
    unit = {"h": "hours", "d": "days", "w": "weeks"}
    return sum((timedelta(**{unit[u.lower()]: int(n)}) for n, u in parts), timedelta())


def allowed_weekdays(schedule: CheckinSchedule) -> set[int]:
    match schedule.frequency:
        case "daily":
            days = set(range(7))
        case "weekdays":
            days = set(range(5))
        case "weekly":
            days = {(schedule.days or (0,))[0]}
        case _:
            days = set(schedule.days) or {0}
    return {min(days)} if schedule.slowed else days


@functools.lru_cache(maxsize=1024)
def zone_of(name: str) -> ZoneInfo:
    # ZoneInfo keeps only a few zones alive by itself; a tick over members in many zones would reload them.
    return ZoneInfo(name)


def _wall(day: date, at: time, zone: ZoneInfo) -> datetime:
    """That wall-clock time in the zone, in UTC. In a spring-forward gap it lands just after the gap; in a
    fall-back overlap it is the first occurrence (fold=0), so a day never has two check-ins."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _in_quiet(at: time, start: time, end: time) -> bool:
    return start <= at < end if start < end else at >= start or at < end


def next_checkin_at(schedule: CheckinSchedule, after: datetime) -> datetime:
    """The first scheduled moment strictly after `after`, in UTC, outside quiet hours."""
    zone = zone_of(schedule.timezone)
    at = parse_hhmm(schedule.local_time) or time(10, 0)
    quiet = (parse_hhmm(schedule.quiet_start or ""), parse_hhmm(schedule.quiet_end or ""))
    allowed = allowed_weekdays(schedule)
    first_day = after.astimezone(zone).date()
    for offset in range(15):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in allowed:
            continue
        candidate = _wall(day, at, zone)
        start, end = quiet
        if start and end and _in_quiet(candidate.astimezone(zone).time(), start, end):
            local = candidate.astimezone(zone)
            end_day = local.date() if local.time() < end else local.date() + timedelta(days=1)
            candidate = _wall(end_day, end, zone)
        if candidate > after:
            return candidate
    raise ValueError("no check-in day in the next two weeks")  # unreachable: every schedule allows a weekday


class NextTimes:
    """`next_checkin_at(schedule, after)` for many schedules and one `after` (a tick): members share a few hundred
    rules (zone, time, days, quiet hours), so each rule's next time is computed once."""

    def __init__(self, after: datetime) -> None:
        self.after = after
        self._found: dict[tuple[object, ...], datetime] = {}

    def __call__(self, schedule: CheckinSchedule) -> datetime:
        # Every field next_checkin_at reads, and nothing else.
        rule = (schedule.timezone, schedule.local_time, schedule.frequency, schedule.days, schedule.slowed,
                schedule.quiet_start, schedule.quiet_end)
        found = self._found.get(rule)
        if found is None:
            found = self._found[rule] = next_checkin_at(schedule, self.after)
        return found


def falling_trend(answers: list[Checkin], now: datetime) -> list[int] | None:
    """The moods that show a falling trend (newest last), or None. Three answers of 2 or less in a row, or a drop
    of 2 points or more from the best answer of the past week to the latest."""
    moods = [(c.answered_at, c.mood) for c in answers if c.mood is not None and c.answered_at is not None]
    if len(moods) >= 3 and all(m <= 2 for _, m in moods[:3]):
        return [m for _, m in reversed(moods[:3])]
    week = [(at, m) for at, m in moods if now - at <= TREND_WINDOW]
    if len(week) >= 2 and max(m for _, m in week) - week[0][1] >= 2:
        return [m for _, m in reversed(week)]
    return None


def sparkline(history: list[Checkin]) -> str:
    """Oldest first: a bar per answer, `·` for a skipped day, a space for no answer."""
    marks = []
    for checkin in reversed(history):
        marks.append(SPARK[checkin.mood] if checkin.mood else "·" if checkin.skipped else " ")
    return "".join(marks)


# ---------------------------------------------------------------- the feature


class Checkins:
    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings.checkins
        # Other features add choices to the falling-trend message (e.g. "Tell my mentor", pressed only by consent).
        self.support_choices: list[Callable[[Context, Member], Awaitable[list[Choice]]]] = []
        # A DM that could be a check-in note or a message for someone else (a paired mentor): a hook may ask the
        # member which it is (returns True when it took over) instead of the DM silently becoming a note.
        self.note_or_message: list[Callable[[Context, Member, str], Awaitable[bool]]] = []

    def install(self) -> None:
        router = self.app.router
        router.command("checkin", self.checkin)
        router.command("pause", self.pause)
        router.command("resume", self.resume)
        router.command("mood", self.mood)
        for name, handler in (("ci.mood", self._mood_button), ("ci.skip", self._skip_button),
                              ("ci.freq", self._frequency_button), ("ci.share", self._share_button),
                              ("ci.now", self._now_button), ("ci.open_form", self._open_form)):
            router.action(name, handler)
        router.form("ci.form", self._form_submitted)
        router.on_dm(self._note)
        router.tick("checkins.due", timedelta(seconds=self.settings.tick_seconds), self.send_due,
                    due_hint=self.next_due)

    @property
    def footer(self) -> str:
        return self.app.texts.crisis_footer

    async def _member(self, ctx: Context) -> Member | None:
        return await ctx.member_or_tell("Check-ins are for members. Type `/peer join` to join (nothing is stored "
                                        "until you agree).\n" + self.footer)

    # -- following the profile (onboarding's check-in and timezone answers)

    async def profile_changed(self, ctx: Context, member: Member, step: str) -> None:
        if step == "checkins":
            if member.checkin_pref in ("daily", "weekly"):
                await self._set(ctx, member, frequency=member.checkin_pref,
                                days=(ctx.now.astimezone(self._zone(member)).weekday(),))
                if (await ctx.tx.checkins.schedule(member.id)) is not None:
                    ctx.reply("May I tell the moderators if your check-ins show a hard stretch? Only then, and "
                              "only that.", (Choice("Yes, tell them", "ci.share", "yes"),
                                             Choice("No, keep it to me", "ci.share", "no")))
            elif member.checkin_pref == "none":
                await ctx.tx.checkins.delete_schedule(member.id)
        elif step == "timezone" and member.timezone:
            current = await ctx.tx.checkins.schedule(member.id)
            if current is not None:
                await self._save(ctx, replace(current, timezone=member.timezone))

    @staticmethod
    def _zone(member: Member) -> ZoneInfo:
        return ZoneInfo(member.timezone or "UTC")

    async def _set(self, ctx: Context, member: Member, **changes: object) -> CheckinSchedule:
        current = await ctx.tx.checkins.schedule(member.id) or CheckinSchedule(
            member_id=member.id, frequency="daily", days=(), local_time=self.settings.default_time,
            timezone=member.timezone or "UTC")
        schedule = replace(current, **changes)  # type: ignore[arg-type]
        await self._save(ctx, schedule)
        ctx.reply("Saved. " + describe(schedule) + " Next: "
                  + _local(schedule.next_checkin_at if schedule.paused_until is None else None, schedule) + ".")
        return schedule

    async def _save(self, ctx: Context, schedule: CheckinSchedule) -> CheckinSchedule:
        schedule = replace(schedule, next_checkin_at=next_checkin_at(schedule, ctx.now))
        await ctx.tx.checkins.save_schedule(schedule)
        return schedule

    # -- /peer checkin

    async def checkin(self, ctx: Context, command: Command) -> None:
        if (member := await self._member(ctx)) is None:
            return
        schedule = await ctx.tx.checkins.schedule(member.id)
        sub = command.arg(0).lower()
        rest = command.args[1:]
        if not sub:
            if schedule is None:
                ctx.reply("Would you like a short, private mood check-in from me?",
                          (Choice("Daily", "ci.freq", "daily"), Choice("Weekdays", "ci.freq", "weekdays"),
                           Choice("Weekly", "ci.freq", "weekly"), *self._form_choice(ctx),
                           Choice("Check in now", "ci.now", "")))
            else:
                ctx.reply(describe(schedule) + "\n" + SETTINGS_HELP,
                          (*self._form_choice(ctx), Choice("Check in now", "ci.now", "")))
            return
        if sub == "now":
            await self._send_now(ctx, member)
            return
        if sub == "off":
            await ctx.tx.checkins.delete_schedule(member.id)
            await ctx.tx.members.update(member.id, checkin_pref="none")
            ctx.reply("Check-ins are off. `/peer checkin daily` turns them on again.")
            return
        if sub == "note":
            await self._store_note(ctx, member, command.rest(1), reply_if_none=True)
            return
        if sub == "share" and rest and rest[0].lower() in ("yes", "no"):
            await self._set(ctx, member, share_trend=rest[0].lower() == "yes")
            return
        if sub == "quiet" and rest:
            await self._quiet(ctx, member, rest[0])
            return
        if sub == "time" and rest and (at := parse_hhmm(rest[0])) is not None:
            await self._set(ctx, member, local_time=at.strftime("%H:%M"))
            return
        if sub in FREQUENCIES:
            await self._frequency(ctx, member, sub, rest)
            return
        ctx.reply(SETTINGS_HELP)

    async def _frequency(self, ctx: Context, member: Member, frequency: str, rest: tuple[str, ...]) -> None:
        changes: dict[str, object] = {"frequency": frequency, "slowed": False, "missed": 0}
        args = list(rest)
        if frequency in ("weekly", "days"):
            names = [d.strip()[:3].lower() for d in (args.pop(0) if args else "").split(",") if d.strip()]
            if not names or any(n not in WEEKDAYS for n in names) or (frequency == "weekly" and len(names) != 1):
                ctx.reply(f"Name the day{'s' if frequency == 'days' else ''} like `mon` or `mon,wed,fri`. "
                          + SETTINGS_HELP)
                return
            changes["days"] = tuple(sorted({WEEKDAYS.index(n) for n in names}))
        if args:
            if (at := parse_hhmm(args[0])) is None:
                ctx.reply(f"I can't read the time `{args[0]}`; write it like 09:30.")
                return
            changes["local_time"] = at.strftime("%H:%M")
        await ctx.tx.members.update(member.id, checkin_pref="weekly" if frequency == "weekly" else "daily")
        await self._set(ctx, member, **changes)

    async def _quiet(self, ctx: Context, member: Member, value: str) -> None:
        if value.lower() == "off":
            await self._set(ctx, member, quiet_start=None, quiet_end=None)
            return
        start, _, end = value.partition("-")
        begin, finish = parse_hhmm(start), parse_hhmm(end)
        if begin is None or finish is None or begin == finish:
            ctx.reply("Write quiet hours like `/peer checkin quiet 22:00-07:00` (or `off`).")
            return
        await self._set(ctx, member, quiet_start=begin.strftime("%H:%M"), quiet_end=finish.strftime("%H:%M"))

    async def _frequency_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is not None and event.value in FREQUENCIES:
            weekday = (ctx.now.astimezone(self._zone(member)).weekday(),)
            await self._frequency(ctx, member, event.value, (WEEKDAYS[weekday[0]],) if event.value == "weekly"
                                  else ())

    async def _share_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is not None and await ctx.tx.checkins.schedule(member.id):
            await self._set(ctx, member, share_trend=event.value == "yes")

    def _form_choice(self, ctx: Context) -> tuple[Choice, ...]:
        return ((Choice("Change schedule", "ci.open_form", "", "primary"),)
                if self.app.supports(ctx.user.platform, "forms") else ())

    async def _open_form(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is None:
            return
        schedule = await ctx.tx.checkins.schedule(member.id)
        if not ctx.open_form(settings_form(schedule, self.settings.default_time)):
            ctx.reply(SETTINGS_HELP)

    async def _form_submitted(self, ctx: Context, event: FormSubmitted) -> None:
        if (member := await self._member(ctx)) is None:
            return
        changes, problems = read_settings_form(event)
        if problems:
            ctx.reply("I couldn't save that, so nothing changed:\n" + "\n".join(f"• {p}" for p in problems)
                      + "\n" + SETTINGS_HELP)
            return
        if changes["frequency"] == "off":
            await ctx.tx.checkins.delete_schedule(member.id)
            await ctx.tx.members.update(member.id, checkin_pref="none")
            ctx.reply("Check-ins are off. `/peer checkin daily` turns them on again.")
            return
        await ctx.tx.members.update(member.id, checkin_pref="weekly" if changes["frequency"] == "weekly" else "daily")
        await self._set(ctx, member, **changes)

    async def _now_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await self._member(ctx)) is not None:
            await self._send_now(ctx, member)

    async def _send_now(self, ctx: Context, member: Member) -> None:
        checkin_id = await ctx.tx.checkins.add(member.id, ctx.now)
        ctx.dm(ctx.user, checkin_message(checkin_id), key=f"checkin:{checkin_id}")

    # -- pause, resume, mood

    async def pause(self, ctx: Context, command: Command) -> None:
        if (member := await self._member(ctx)) is None:
            return
        schedule = await ctx.tx.checkins.schedule(member.id)
        if schedule is None:
            ctx.reply("You have no check-ins to pause. `/peer checkin` sets them up.")
            return
        wanted = command.rest(0).strip()
        duration = parse_duration(wanted) if wanted else None
        if wanted and duration is None:
            ctx.reply("Write how long like `/peer pause 3d`, `/peer pause 2w` or `/peer pause 12h`, or just "
                      "`/peer pause`.")
            return
        until = ctx.now + duration if duration else PAUSED_INDEFINITELY
        await ctx.tx.checkins.save_schedule(replace(schedule, paused_until=until,
                                                    next_checkin_at=next_checkin_at(schedule, until)
                                                    if duration else None))
        when = "until you type `/peer resume`" if duration is None else (
            f"until {until.astimezone(ZoneInfo(schedule.timezone)):%a %d %b %H:%M}")
        ctx.reply(f"Check-ins are paused {when}. Take care of yourself.\n{self.footer}")

    async def resume(self, ctx: Context, command: Command) -> None:
        if (member := await self._member(ctx)) is None:
            return
        schedule = await ctx.tx.checkins.schedule(member.id)
        if schedule is None or schedule.paused_until is None:
            ctx.reply("Nothing is paused. " + (describe(schedule) if schedule else "`/peer checkin` sets up "
                                                                                   "check-ins."))
            return
        resumed = await self._save(ctx, replace(schedule, paused_until=None))
        ctx.reply("Welcome back. " + describe(resumed) + " Next: " + _local(resumed.next_checkin_at, resumed) + ".")

    async def mood(self, ctx: Context, command: Command) -> None:
        if (member := await self._member(ctx)) is None:
            return
        history = await ctx.tx.checkins.recent(member.id, 14)
        answered = [c.mood for c in history if c.mood]
        if not answered:
            ctx.reply("No check-in answers yet. `/peer checkin now` starts one.")
            return
        average = sum(answered) / len(answered)
        ctx.reply(f"Your last {len(history)} check-ins, oldest first (1 very low … 5 very good):\n"
                  f"`{sparkline(history)}`\nAverage {average:.1f} over {len(answered)} answers; latest: "
                  f"{MOODS[answered[0]].lower()}.")

    # -- answering

    async def _own_checkin(self, ctx: Context, raw_id: str) -> tuple[Member, Checkin] | None:
        member = await ctx.tx.members.by_user(ctx.user)
        checkin = await ctx.tx.checkins.get(int(raw_id)) if raw_id.isdigit() else None
        if member is None or checkin is None or checkin.member_id != member.id:
            ctx.reply("That check-in is no longer active.")
            return None
        if checkin.answered_at is not None:
            ctx.reply("You already answered this check-in. Thank you!")
            return None
        return member, checkin

    async def _mood_button(self, ctx: Context, event: ActionInvoked) -> None:
        raw_id, _, raw_mood = event.value.partition(":")
        if not raw_mood.isdigit() or int(raw_mood) not in MOODS:
            return
        found = await self._own_checkin(ctx, raw_id)
        if found is None:
            return
        member, checkin = found
        await ctx.tx.checkins.answer(checkin.id, int(raw_mood), False, ctx.now)
        await ctx.tx.activity.record(member.id, week_of(ctx.now), "checkin")
        await self._answered(ctx, member, checkin)
        ctx.reply(answered_text(int(raw_mood)))
        await self._offer_support_if_falling(ctx, member)

    async def _skip_button(self, ctx: Context, event: ActionInvoked) -> None:
        found = await self._own_checkin(ctx, event.value)
        if found is None:
            return
        member, checkin = found
        await ctx.tx.checkins.answer(checkin.id, None, True, ctx.now)
        await self._answered(ctx, member, checkin)
        ctx.reply(SKIPPED)

    async def _answered(self, ctx: Context, member: Member, checkin: Checkin) -> None:
        schedule = await ctx.tx.checkins.schedule(member.id)
        if schedule is None:
            return
        answered = replace(schedule, missed=0, slowed=False,
                           outstanding_id=None if schedule.outstanding_id == checkin.id else schedule.outstanding_id)
        if schedule.slowed and schedule.paused_until is None:
            answered = replace(answered, next_checkin_at=next_checkin_at(answered, ctx.now))
        await ctx.tx.checkins.save_schedule(answered)

    async def _offer_support_if_falling(self, ctx: Context, member: Member) -> None:
        schedule = await ctx.tx.checkins.schedule(member.id)
        if schedule is None or (schedule.trend_offered_at and ctx.now - schedule.trend_offered_at < TREND_WINDOW):
            return
        moods = falling_trend(await ctx.tx.checkins.recent(member.id, 10), ctx.now)
        if moods is None:
            return
        await ctx.tx.checkins.save_schedule(replace(schedule, trend_offered_at=ctx.now))
        groups = list(getattr(self.app.settings.groups, ctx.user.platform, {}))
        choices = [choice for provider in self.support_choices for choice in await provider(ctx, member)]
        ctx.reply(trend_text(groups, self.footer), tuple(choices))
        if schedule.share_trend:
            ctx.emit(PostToModerators(ctx.user.platform, ctx.user.workspace,
                                      OutboundMessage(moderator_trend_text(member.pseudonym, moods))))
        log.info("falling check-in trend; support offered", extra={"member": member.id})

    async def _note(self, ctx: Context, event: MessageReceived) -> bool:
        member = await ctx.tx.members.by_user(ctx.user)
        if member is None:
            return False
        return await self._store_note(ctx, member, event.text, reply_if_none=False, ask=True)

    async def keep_note(self, ctx: Context, member: Member, text: str) -> None:
        """The member said this text is a note for their latest check-in."""
        await self._store_note(ctx, member, text, reply_if_none=True)

    async def _store_note(self, ctx: Context, member: Member, text: str, reply_if_none: bool,
                          ask: bool = False) -> bool:
        latest = next(iter(await ctx.tx.checkins.recent(member.id, 1)), None)
        open_for_note = (latest is not None and latest.answered_at is not None and latest.note is None
                         and not latest.skipped and ctx.now - latest.answered_at <= NOTE_WINDOW)
        if not open_for_note or not text.strip():
            if reply_if_none:
                ctx.reply("Notes go with your latest check-in answer, within two hours of answering.")
            return False
        assert latest is not None
        if ask and not ctx.held:
            for hook in self.note_or_message:
                if await hook(ctx, member, text):
                    return True
        await ctx.tx.checkins.set_note(latest.id, text.strip())
        if not ctx.held:  # a note in crisis already got the safety reply
            ctx.reply(NOTE_THANKS)
        return True

    async def export(self, tx: Transaction, member: Member) -> dict[str, object]:
        schedule = await tx.checkins.schedule(member.id)
        history = await tx.checkins.recent(member.id, 100_000)
        return {
            "schedule": None if schedule is None else {
                "frequency": schedule.frequency, "days": [WEEKDAYS[d] for d in schedule.days],
                "local_time": schedule.local_time, "timezone": schedule.timezone,
                "quiet_hours": [schedule.quiet_start, schedule.quiet_end] if schedule.quiet_start else None,
                "paused": schedule.paused_until is not None, "share_trend_with_moderators": schedule.share_trend},
            "answers": [{"sent_at": c.sent_at.isoformat(), "answered_at": c.answered_at.isoformat()
                         if c.answered_at else None, "mood": c.mood, "skipped": c.skipped, "note": c.note}
                        for c in reversed(history)],
        }

    # -- the tick

    async def next_due(self) -> datetime | None:
        async with self.app.work("checkins:hint") as ctx:
            return await ctx.tx.checkins.next_due()

    async def send_due(self, now: datetime) -> int:
        """Claim and send every check-in due at `now`, batch by batch; returns how many were claimed.

        The due members are read once, in member order (so a batch's writes land on neighbouring pages); each batch
        is checked again in the transaction that records it sent and queues its DMs, so two workers sharing the
        database never send the same check-in."""
        async with self.app.work(f"checkins:{now.isoformat()}:due", now=now) as ctx:
            candidates = await ctx.tx.checkins.due_members(now)
        size = self.settings.batch_size
        next_times = NextTimes(now)
        total = 0
        for start in range(0, len(candidates), size):
            async with self.app.work(f"checkins:{now.isoformat()}:{start}", now=now) as ctx:
                sent = await self._send_batch(ctx, candidates[start:start + size], next_times)
            if sent:
                self.app.dispatcher.wake()
            total += sent
        return total

    async def _send_batch(self, ctx: Context, member_ids: list[int], next_times: NextTimes) -> int:
        now = next_times.after
        due = await ctx.tx.checkins.due(now, member_ids)
        to_send: list[SentCheckin] = []
        for item in due:
            schedule = item.schedule
            missed = schedule.missed + (1 if schedule.outstanding_id is not None else 0)
            if missed >= MISSES_BEFORE_SLOWING and not schedule.slowed:
                # Instead of a fourth unanswered check-in: one gentle word, then weekly.
                slowed = replace(schedule, slowed=True, missed=missed, outstanding_id=None)
                await ctx.tx.checkins.save_schedule(replace(slowed, next_checkin_at=next_times(slowed)))
                ctx.emit(SendDirect(item.user, OutboundMessage(WE_ARE_HERE + "\n" + self.footer)),
                         key=f"checkin:slow:{schedule.member_id}:{now.isoformat()}")
            else:
                to_send.append(SentCheckin(schedule.member_id, item.user, schedule.next_checkin_at or now, missed,
                                           next_times(schedule)))
        await ctx.tx.checkins.record_sent(to_send, now, checkin_message, "checkin:", Priority.NORMAL)
        return len(due)


_MOOD_LABELS = tuple((n, f"{n} · {label}") for n, label in MOODS.items())


def checkin_message(checkin_id: int) -> OutboundMessage:
    value = str(checkin_id)
    moods = [Choice(label, "ci.mood", f"{value}:{n}") for n, label in _MOOD_LABELS]
    return OutboundMessage(CHECKIN_TEXT, (*moods, Choice("Skip today", "ci.skip", value)))


def _local(when: datetime | None, schedule: CheckinSchedule) -> str:
    if when is None:
        return "paused"
    return f"{when.astimezone(ZoneInfo(schedule.timezone)):%a %d %b %H:%M}"
