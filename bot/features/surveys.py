"""Anonymous program surveys in the chat: a baseline right after onboarding (skippable), then a follow-up every
`[evaluation] survey_interval_days`, as a short DM sequence with buttons: the WHO-5 Well-Being Index, a single-item
burnout question for healthcare staff, satisfaction with the program and with the mentor or mentee, and one optional
"what should we improve?" kept apart from the member's id. Members decline surveys for good in `/peer profile`.

Answers are only ever reported as aggregates (`bot.evaluation`); declining changes nothing else a member gets.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.commands import Command
from bot.evaluation import week_of
from bot.evaluation.figures import Figures
from bot.evaluation.render import to_html
from bot.evaluation.report import build, headline, period_for
from bot.events import ActionInvoked, Choice, MessageReceived, OutboundMessage, SendDirect, UserRef
from bot.mentions import neutralise
from bot.router import Context
from bot.store import Member, Priority, Survey, SurveySettings, SurveyState, Transaction

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

TICK = timedelta(minutes=10)
BATCH = 200
# A DM this long after the last question is no longer taken as a suggestion: kept short, so a message meant for a
# mentor or a check-in note later that day is never swallowed into the anonymous suggestions.
SUGGESTION_WINDOW = timedelta(hours=1)
SUGGESTION_MAX = 1000
LOCAL_DAY = (time(9, 0), time(20, 0))  # a survey is offered in the member's daytime, at 10:00 otherwise
STAFF_TOPIC = "staff-wellbeing"

# The state machine of one survey. Anything else raises IllegalTransition.
TRANSITIONS: dict[SurveyState, frozenset[SurveyState]] = {
    SurveyState.OFFERED: frozenset({SurveyState.ANSWERING, SurveyState.SKIPPED, SurveyState.EXPIRED}),
    SurveyState.ANSWERING: frozenset({SurveyState.COMPLETED, SurveyState.SKIPPED, SurveyState.EXPIRED}),
    SurveyState.COMPLETED: frozenset(),
    SurveyState.SKIPPED: frozenset(),
    SurveyState.EXPIRED: frozenset(),
}


class IllegalTransition(Exception):
    pass


def check_transition(current: SurveyState, target: SurveyState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"a survey that is {current.value} cannot become {target.value}")


# ---------------------------------------------------------------- what members read (reviewed as a whole)

def offer_text(kind: str, min_cell_size: int) -> str:
    head = ("One more thing, if you have two minutes: a short, anonymous survey about how you have been and what "
            "you think of this program." if kind == "baseline" else
            "It has been a while since the last survey. Would you answer the same few anonymous questions again? "
            "Comparing them over time shows whether peer support helps.")
    return "\n".join([
        head,
        "• It helps the people who run this program show what it does, and keep it going.",
        f"• Your answers are only ever reported as totals of at least {min_cell_size} people, never with your "
        "pseudonym, and never shown to other members or your managers.",
        "• Skip any question or stop at any time. Declining changes nothing else you get from peerbot.",
        "Answer with the buttons, or type `/peer survey <number>` (`/peer survey skip`, `/peer survey never`).",
    ])


WHO5_INTRO = "Please tell me how you have been feeling over the last two weeks."
# The WHO-5 Well-Being Index (WHO, 1998), standard wording; free to use.
WHO5_ITEMS = (
    "I have felt cheerful and in good spirits.",
    "I have felt calm and relaxed.",
    "I have felt active and vigorous.",
    "I woke up feeling fresh and rested.",
    "My daily life has been filled with things that interest me.",
)
WHO5_ANSWERS = ((5, "All of the time"), (4, "Most of the time"), (3, "More than half of the time"),
                (2, "Less than half of the time"), (1, "Some of the time"), (0, "At no time"))
# The single-item burnout measure (as in the Physician Worklife Study), five answers.
BURNOUT_QUESTION = "Overall, based on your definition of burnout, how would you rate your level of burnout?"
BURNOUT_ANSWERS = (
    (1, "No burnout", "I enjoy my work. I have no symptoms of burnout."),
    (2, "Some stress", "Occasionally I am under stress, and I don't always have as much energy as I once did, "
                       "but I don't feel burned out."),
    (3, "Burning out", "I am definitely burning out and have one or more symptoms of burnout, such as physical and "
                       "emotional exhaustion."),
    (4, "Won't go away", "The symptoms of burnout that I'm experiencing won't go away. I think about frustration "
                         "at work a lot."),
    (5, "Completely burned out", "I feel completely burned out and often wonder if I can go on. I am at the point "
                                 "where I may need some changes or may need to seek some sort of help."),
)
SATISFACTION_ANSWERS = ((1, "Very dissatisfied"), (2, "Dissatisfied"), (3, "Neither"), (4, "Satisfied"),
                        (5, "Very satisfied"))
SATISFACTION_QUESTION = "How satisfied are you with this peer-support program overall?"
PAIR_QUESTION = {"mentor": "How satisfied are you with your mentoring (your mentee or mentees) so far?",
                 "mentee": "How satisfied are you with your mentor so far?"}
IMPROVE_QUESTION = ("Last one, and optional: what should we improve? Write it here in one message within the hour, "
                    "or press Skip.\n"
                    "It is kept apart from your answers and your name; program staff read it only among the "
                    "suggestions in the program report.")
THANKS = "Thank you, that's everything. Your answers help keep this program going."
SUGGESTION_THANKS = "Thank you for the suggestion."
HARD_TIMES = ("Some of your answers say things are hard right now. You don't have to carry this alone:\n"
              "• talk with people who get it in the groups (`/peer post <group> <text>`)\n"
              "• `/peer pair` asks for a mentor who has been there")
LATER = "No problem. I'll ask again in a few months; `/peer profile surveys off` stops surveys for good."
STOPPED = "No problem, we'll stop here. Thank you for the answers you gave."
DECLINED = ("Understood: no more surveys. Nothing else changes for you. `/peer profile surveys on` allows them again "
            "any time.")
ALLOWED = "Surveys are allowed again. The next one comes in a few months; you can skip any of it."
NO_SURVEY = "No survey is waiting for you right now. The next one comes on its own, every few months."
SURVEY_HELP = ("Answer with the buttons, or type `/peer survey <number>`; `/peer survey skip` passes over a "
               "question, `/peer survey stop` stops, `/peer survey never` stops surveys for good.")
ALREADY = "That question is already answered. Thank you!"
STALE = "That survey is closed. Thank you!"


def settings_text(declined: bool) -> str:
    if declined:
        return "Surveys: you declined them, so I never send any. `/peer profile surveys on` allows them again."
    return ("Surveys: a short anonymous survey every few months (skippable). `/peer profile surveys off` stops them "
            "for good.")


# ---------------------------------------------------------------- pure decisions

def survey_items(member: Member, paired_as: str | None) -> tuple[str, ...]:
    """The questions of a survey for this member: WHO-5 for everyone, burnout for healthcare staff, the pairing
    question when paired, and the optional suggestion last."""
    items = ["who5_1", "who5_2", "who5_3", "who5_4", "who5_5"]
    if member.role == "staff" or STAFF_TOPIC in member.topics:
        items.append("burnout")
    items.append("satisfaction")
    if paired_as:
        items.append(f"pair_satisfaction:{paired_as}")
    items.append("improve")
    return tuple(items)


def item_name(item: str) -> str:
    """`pair_satisfaction:mentor` -> `pair_satisfaction` (the stored column; the suffix only shapes the question)."""
    return item.partition(":")[0]


def answers_of(item: str) -> tuple[int, ...]:
    name = item_name(item)
    if name.startswith("who5_"):
        return tuple(v for v, _ in WHO5_ANSWERS)
    if name == "improve":
        return ()
    return (1, 2, 3, 4, 5)


def who5_score(raw: list[int]) -> int | None:
    """The WHO-5 percentage score: the sum of the five answers (0-5 each) times 4, 0-100. None if incomplete."""
    if len(raw) != 5 or any(not 0 <= value <= 5 for value in raw):
        return None
    return sum(raw) * 4


def survey_due_at(after: datetime, timezone: str | None) -> datetime:
    """`after`, or the next 10:00 local time when `after` falls outside the member's daytime."""
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = after.astimezone(zone)
    start, end = LOCAL_DAY
    if start <= local.time() < end:
        return after
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, time(10, 0), tzinfo=zone).astimezone(after.tzinfo)


def question_message(survey: Survey) -> OutboundMessage:
    item = survey.items[survey.position]
    name = item_name(item)
    number = survey.position + 1
    total = len(survey.items)
    head = f"Question {number} of {total}"
    sid = survey.id
    pass_over = Choice("Skip question", "sv.pass", f"{sid}:{survey.position}")
    stop = Choice("Stop here", "sv.stop", str(sid))
    if name.startswith("who5_"):
        index = int(name[-1]) - 1
        intro = f"{WHO5_INTRO}\n" if index == 0 else ""
        text = f"{head}. {intro}Over the last two weeks: **{WHO5_ITEMS[index]}**"
        choices = [Choice(label, "sv.answer", f"{sid}:{survey.position}:{v}") for v, label in WHO5_ANSWERS]
    elif name == "burnout":
        lines = "\n".join(f"{v}. {statement}" for v, _, statement in BURNOUT_ANSWERS)
        text = f"{head}. {BURNOUT_QUESTION}\n{lines}"
        choices = [Choice(f"{v} · {label}", "sv.answer", f"{sid}:{survey.position}:{v}")
                   for v, label, _ in BURNOUT_ANSWERS]
    elif name in ("satisfaction", "pair_satisfaction"):
        question = SATISFACTION_QUESTION if name == "satisfaction" else PAIR_QUESTION.get(
            item.partition(":")[2], PAIR_QUESTION["mentee"])
        text = f"{head}. {question}"
        choices = [Choice(f"{v} · {label}", "sv.answer", f"{sid}:{survey.position}:{v}")
                   for v, label in SATISFACTION_ANSWERS]
    else:
        return OutboundMessage(f"{head}. {IMPROVE_QUESTION}", (Choice("Skip", "sv.pass", f"{sid}:{survey.position}"),))
    return OutboundMessage(text, (*choices, pass_over, stop))


# ---------------------------------------------------------------- the feature

PairedAs = Callable[[Transaction, Member], Awaitable[str | None]]


async def _never_paired(tx: Transaction, member: Member) -> str | None:
    return None


class Surveys:
    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings.evaluation
        self.interval = timedelta(days=self.settings.survey_interval_days)
        # "mentor" or "mentee" when the member is in an active pairing (wired by the pairing feature).
        self.paired_as: PairedAs = _never_paired
        # A DM that could be the suggestion or a message for someone else: a hook may ask (True: it took over).
        self.suggestion_or_message: list[Callable[[Context, Member, str], Awaitable[bool]]] = []

    def install(self) -> None:
        router = self.app.router
        router.command("survey", self.survey_command)
        for name, handler in (("sv.start", self._start_button), ("sv.later", self._later_button),
                              ("sv.never", self._never_button), ("sv.answer", self._answer_button),
                              ("sv.pass", self._pass_button), ("sv.stop", self._stop_button),
                              ("sv.settings", self._settings_button), ("sv.allow", self._allow_button)):
            router.action(name, handler)
        router.on_dm(self._suggestion)
        router.tick("surveys.due", TICK, self.offer_due, due_hint=self.next_due)

    @property
    def footer(self) -> str:
        return self.app.texts.crisis_footer

    # -- following onboarding and the profile

    async def onboarding_finished(self, ctx: Context, member: Member) -> None:
        """Offer the baseline survey, once."""
        if not self.settings.surveys:
            return
        if await ctx.tx.surveys.settings(member.id) is not None:
            return  # already offered (or declined) before
        await ctx.tx.surveys.save_settings(SurveySettings(member.id, None, self._next_time(ctx.now, member)))
        await self._offer(ctx, ctx.tx, member, ctx.user)

    async def profile_setting(self, ctx: Context, member: Member, value: str) -> None:
        """`/peer profile surveys on|off`."""
        match value.lower():
            case "off" | "no" | "never" | "decline":
                await self._decline(ctx, member)
            case "on" | "yes" | "allow":
                await self._allow(ctx, member)
            case _:
                current = await ctx.tx.surveys.settings(member.id)
                ctx.reply(settings_text(current is not None and current.declined_at is not None))

    def _next_time(self, now: datetime, member: Member) -> datetime:
        return survey_due_at(now + self.interval, member.timezone)

    # -- offering

    async def _offer(self, ctx: Context, tx: Transaction, member: Member, to: UserRef) -> Survey:
        """Offer the member a survey now (the previous one, if unfinished, expires)."""
        previous = await tx.surveys.open_for(member.id)
        if previous is not None:
            await self._move(tx, previous, SurveyState.EXPIRED, ctx.now)
        done = [s for s in await tx.surveys.by_member(member.id) if s.state is SurveyState.COMPLETED]
        kind = "followup" if any(s.kind == "baseline" for s in done) else "baseline"
        survey = await tx.surveys.create(member.id, kind, survey_items(member, await self.paired_as(tx, member)),
                                         ctx.now)
        sid = str(survey.id)
        ctx.emit(SendDirect(to, OutboundMessage(offer_text(kind, self.settings.min_cell_size), (
            Choice("Start", "sv.start", sid, "primary"), Choice("Not now", "sv.later", sid),
            Choice("Never ask me", "sv.never", sid)))), Priority.NORMAL, key=f"survey:{survey.id}:offer")
        return survey

    async def next_due(self) -> datetime | None:
        async with self.app.work("surveys:hint") as ctx:
            return await ctx.tx.surveys.next_due()

    async def offer_due(self, now: datetime) -> int:
        """The tick: offer every survey that is due (follow-ups, and baselines never offered), batch by batch;
        returns how many were offered."""
        if not self.settings.surveys:
            return 0
        total = 0
        while True:
            async with self.app.work(f"surveys:{now.isoformat()}:{total}", now=now) as ctx:
                due = await ctx.tx.surveys.due(now, BATCH)
                for member_id, user in due:
                    member = await ctx.tx.members.get(member_id)
                    if member is None:
                        continue
                    await ctx.tx.surveys.save_settings(SurveySettings(member.id, None, self._next_time(now, member)))
                    await self._offer(ctx, ctx.tx, member, user)
            total += len(due)
            if len(due) < BATCH:
                return total

    # -- the sequence

    async def _move(self, tx: Transaction, survey: Survey, target: SurveyState, now: datetime) -> None:
        check_transition(survey.state, target)
        await tx.surveys.set_state(survey.id, target, now)

    async def _own(self, ctx: Context, raw_id: str) -> tuple[Member, Survey] | None:
        member = await ctx.tx.members.by_user(ctx.user)
        survey = await ctx.tx.surveys.get(int(raw_id)) if raw_id.isdigit() else None
        if member is None or survey is None or survey.member_id != member.id:
            ctx.reply(STALE)
            return None
        return member, survey

    async def _start(self, ctx: Context, survey: Survey) -> None:
        if survey.state is SurveyState.OFFERED:
            await self._move(ctx.tx, survey, SurveyState.ANSWERING, ctx.now)
            survey = replace(survey, state=SurveyState.ANSWERING)
        if survey.state is not SurveyState.ANSWERING:
            ctx.reply(STALE)
            return
        ctx.reply(question_message(survey).text, question_message(survey).choices)

    async def _record(self, ctx: Context, member: Member, survey: Survey, position: int, value: int | None) -> None:
        """Answer (or pass over, with None) the question at `position`, then ask the next one or finish."""
        open_suggestion = (survey.state is SurveyState.COMPLETED and survey.position == position
                           and position < len(survey.items) and item_name(survey.items[position]) == "improve")
        if survey.state is SurveyState.OFFERED and position == 0:
            await self._move(ctx.tx, survey, SurveyState.ANSWERING, ctx.now)
            survey = replace(survey, state=SurveyState.ANSWERING)
        if survey.state is not SurveyState.ANSWERING and not open_suggestion:
            ctx.reply(STALE)
            return
        if position != survey.position:
            ctx.reply(ALREADY if position < survey.position else STALE)
            return
        item = survey.items[position]
        if value is not None and value not in answers_of(item):
            ctx.reply(SURVEY_HELP)
            return
        await ctx.tx.surveys.record_answer(survey.id, item_name(item), value, position + 1)
        survey = replace(survey, position=position + 1,
                         answers=(*survey.answers, (item_name(item), value)) if value is not None else survey.answers)
        if open_suggestion:
            ctx.reply(THANKS)  # the optional suggestion was passed over; the survey was complete already
            return
        following = survey.items[survey.position] if survey.position < len(survey.items) else None
        if following is None or item_name(following) == "improve":
            # Complete once every scored question is answered: the optional suggestion may never come.
            await self._complete(ctx, member, survey, thank=following is None)
            if following is None:
                return
        ctx.reply(question_message(survey).text, question_message(survey).choices)

    async def _complete(self, ctx: Context, member: Member, survey: Survey, thank: bool) -> None:
        await self._move(ctx.tx, survey, SurveyState.COMPLETED, ctx.now)
        if thank:
            ctx.reply(THANKS)
        score = who5_score([v for name, v in survey.answers if name.startswith("who5_")])
        burnout = survey.answer("burnout")
        if (score is not None and score <= 28) or (burnout is not None and burnout >= 4):
            ctx.reply(HARD_TIMES + "\n" + self.footer)
        log.info("survey completed", extra={"survey": survey.id, "kind": survey.kind})

    async def _open_for_suggestion(self, ctx: Context, member: Member) -> Survey | None:
        """The member's survey whose optional "what should we improve?" is still open, if any."""
        surveys = await ctx.tx.surveys.by_member(member.id)
        survey = surveys[-1] if surveys else None
        if (survey is None or survey.state is not SurveyState.COMPLETED or survey.completed_at is None
                or survey.position >= len(survey.items) or item_name(survey.items[survey.position]) != "improve"
                or ctx.now - survey.completed_at > SUGGESTION_WINDOW):
            return None
        return survey

    async def _suggestion(self, ctx: Context, event: MessageReceived) -> bool:
        """A DM while the optional "what should we improve?" is open is the suggestion (already screened)."""
        member = await ctx.tx.members.by_user(ctx.user)
        if member is None or not event.text.strip() or (survey := await self._open_for_suggestion(ctx, member)) is None:
            return False
        if ctx.held:
            await ctx.tx.surveys.record_answer(survey.id, "improve", None, survey.position + 1)
            return True  # crisis language: the safety reply and the moderators have it; nothing goes in a report
        for hook in self.suggestion_or_message:  # a paired member may have meant it for their mentor
            if await hook(ctx, member, event.text):
                return True
        await self._store_suggestion(ctx, survey, event.text)
        return True

    async def keep_suggestion(self, ctx: Context, member: Member, text: str) -> None:
        """The member said this DM was their suggestion."""
        survey = await self._open_for_suggestion(ctx, member)
        if survey is None:
            ctx.reply("That survey's question is no longer open, so I haven't kept it. Thank you all the same.")
            return
        await self._store_suggestion(ctx, survey, text)

    async def _store_suggestion(self, ctx: Context, survey: Survey, text: str) -> None:
        await ctx.tx.surveys.record_answer(survey.id, "improve", None, survey.position + 1)
        await ctx.tx.surveys.add_suggestion(week_of(ctx.now), neutralise(text.strip())[:SUGGESTION_MAX])
        ctx.reply(SUGGESTION_THANKS + " " + THANKS)

    # -- declining and allowing

    async def _decline(self, ctx: Context, member: Member) -> None:
        open_survey = await ctx.tx.surveys.open_for(member.id)
        if open_survey is not None:
            await self._move(ctx.tx, open_survey, SurveyState.SKIPPED, ctx.now)
        await ctx.tx.surveys.save_settings(SurveySettings(member.id, ctx.now, None))
        ctx.reply(DECLINED)

    async def _allow(self, ctx: Context, member: Member) -> None:
        await ctx.tx.surveys.save_settings(SurveySettings(member.id, None, self._next_time(ctx.now, member)))
        ctx.reply(ALLOWED)

    # -- buttons and the typed equivalents

    async def _start_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (found := await self._own(ctx, event.value)) is not None:
            await self._start(ctx, found[1])

    async def _later_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (found := await self._own(ctx, event.value)) is None:
            return
        survey = found[1]
        if survey.state in (SurveyState.OFFERED, SurveyState.ANSWERING):
            await self._move(ctx.tx, survey, SurveyState.SKIPPED, ctx.now)
        ctx.reply(LATER)

    async def _stop_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (found := await self._own(ctx, event.value)) is None:
            return
        survey = found[1]
        if survey.state in (SurveyState.OFFERED, SurveyState.ANSWERING):
            await self._move(ctx.tx, survey, SurveyState.SKIPPED, ctx.now)
            ctx.reply(STOPPED)
        else:
            ctx.reply(STALE)

    async def _never_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (found := await self._own(ctx, event.value)) is not None:
            await self._decline(ctx, found[0])

    async def _answer_button(self, ctx: Context, event: ActionInvoked) -> None:
        raw_id, _, rest = event.value.partition(":")
        raw_position, _, raw_value = rest.partition(":")
        if not raw_position.isdigit() or not raw_value.isdigit():
            return
        if (found := await self._own(ctx, raw_id)) is not None:
            await self._record(ctx, found[0], found[1], int(raw_position), int(raw_value))

    async def _pass_button(self, ctx: Context, event: ActionInvoked) -> None:
        raw_id, _, raw_position = event.value.partition(":")
        if raw_position.isdigit() and (found := await self._own(ctx, raw_id)) is not None:
            await self._record(ctx, found[0], found[1], int(raw_position), None)

    async def _settings_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await ctx.member_or_tell(STALE)) is None:
            return
        current = await ctx.tx.surveys.settings(member.id)
        declined = current is not None and current.declined_at is not None
        choice = (Choice("Allow surveys again", "sv.allow", "yes") if declined else
                  Choice("Never send me surveys", "sv.allow", "no", "danger"))
        ctx.reply(settings_text(declined), (choice,))

    async def _allow_button(self, ctx: Context, event: ActionInvoked) -> None:
        if (member := await ctx.tx.members.by_user(ctx.user)) is not None:
            await self.profile_setting(ctx, member, "on" if event.value == "yes" else "off")

    async def survey_command(self, ctx: Context, command: Command) -> None:
        """`/peer survey [start|<answer>|skip|stop|later|never]`: the typed equivalent of every survey button."""
        member = await ctx.member_or_tell("Surveys are for members. Type `/peer join` to join (nothing is stored "
                                          "until you agree).\n" + self.footer)
        if member is None:
            return
        word = command.arg(0).lower()
        if word in ("never", "off"):
            await self._decline(ctx, member)
            return
        if word in ("on", "allow"):
            await self._allow(ctx, member)
            return
        survey = await ctx.tx.surveys.open_for(member.id)
        if survey is None:
            surveys = await ctx.tx.surveys.by_member(member.id)
            last = surveys[-1] if surveys else None
            if (word == "skip" and last is not None and last.state is SurveyState.COMPLETED
                    and last.position < len(last.items)):
                await self._record(ctx, member, last, last.position, None)
                return
            ctx.reply(NO_SURVEY)
            return
        match word:
            case "" | "start":
                await self._start(ctx, survey)
            case "skip" | "pass" if survey.state is SurveyState.OFFERED:  # skipping an offer: not now
                await self._move(ctx.tx, survey, SurveyState.SKIPPED, ctx.now)
                ctx.reply(LATER)
            case "later" | "stop":
                await self._move(ctx.tx, survey, SurveyState.SKIPPED, ctx.now)
                ctx.reply(LATER if word == "later" else STOPPED)
            case "skip" | "pass":
                await self._record(ctx, member, survey, survey.position, None)
            case _ if word.isdigit():
                await self._record(ctx, member, survey, survey.position, int(word))
            case _:
                ctx.reply(SURVEY_HELP)

    # -- `/peer mod report`: the headline numbers, and the whole report as a file where the platform takes files

    async def _figures(self, tx: Transaction, now: datetime) -> Figures:
        period = period_for(None, None, now.date())
        return await build(tx, period, self.settings.min_cell_size)

    async def report_headline(self, tx: Transaction, now: datetime) -> str:
        return "\n".join([*headline(await self._figures(tx, now)),
                          "The whole report: `peerbot report --format html --out report.html` on the server (and "
                          "as a file here, where the platform takes files)."])

    async def report_file(self, ctx: Context) -> None:
        if self.app.supports(ctx.user.platform, "files"):
            document = to_html(await self._figures(ctx.tx, ctx.now), self.app.settings.community.name)
            ctx.dm(ctx.user, OutboundMessage("The program report for the last 90 days (open it in a browser; it "
                                             "prints well).", attachment_name="peerbot-report.html",
                                             attachment=document))

    # -- data rights

    async def export(self, tx: Transaction, member: Member) -> dict[str, object]:
        current = await tx.surveys.settings(member.id)
        return {
            "declined": current is not None and current.declined_at is not None,
            "next_survey_at": current.next_survey_at.isoformat() if current and current.next_survey_at else None,
            "surveys": [{"kind": s.kind, "state": s.state.value, "offered_at": s.offered_at.isoformat(),
                         "completed_at": s.completed_at.isoformat() if s.completed_at else None,
                         "answers": dict(s.answers)} for s in await tx.surveys.by_member(member.id)],
            "suggestions": "kept apart from your id, so they cannot be found or exported as yours",
        }
