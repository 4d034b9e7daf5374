"""Forms (Slack and Discord modals) through the real core: the profile and the check-in schedule in one form.

The console has no modals, so these tests give the sandbox's console the "forms" capability and record the forms
the core asks it to open; submissions come back as `FormSubmitted` events, as the adapters send them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.events import (
    ActionInvoked,
    ConversationRef,
    Form,
    FormField,
    FormSubmitted,
    OpenForm,
    UserRef,
    action_from_dict,
    action_to_dict,
)
from tests.test_escalation import Box

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FormBox(Box):
    """A sandbox whose console can show forms: the forms asked for are kept in `opened`."""

    def __init__(self, forms: bool = True) -> None:
        super().__init__()
        self._seq = 0
        if forms:
            self.sandbox.console.capabilities = self.sandbox.console.capabilities | {"forms"}

    @property
    def opened(self) -> list[tuple[str, str, Form]]:
        return [(user.user_id, interaction, form) for user, interaction, form in self.sandbox.console.opened_forms]

    def _user(self, member: str) -> UserRef:
        return self.sandbox.console.user(member)

    async def press(self, member: str, label: str) -> None:
        """Press a button as an adapter with modals would: with an interaction token the form can answer."""
        found = self.sandbox.console.find_choice(member, label)
        assert found is not None, f"{member} has no button {label!r}"
        item, choice = found
        self._seq += 1
        event = ActionInvoked(self._user(member), ConversationRef("console", "sandbox", f"dm:{member}", kind="dm"),
                              choice.action, choice.value, self.sandbox.clock.now(), message=item.ref,
                              label=choice.label, event_id=f"press-{self._seq}", interaction=f"trigger-{self._seq}")
        await self.sandbox.app.handle(event)
        await self.sandbox.app.dispatcher.drain()

    async def submit(self, member: str, form: Form, **values: str | tuple[str, ...]) -> None:
        self._seq += 1
        fields = tuple((name, value if isinstance(value, tuple) else (value,)) for name, value in values.items())
        await self.sandbox.app.handle(FormSubmitted(self._user(member), None, form.action, form.value, fields,
                                                    self.sandbox.clock.now(), event_id=f"form-{self._seq}"))
        await self.sandbox.app.dispatcher.drain()

    async def member(self, name: str):
        async with self.sandbox.store.transaction() as tx:
            return await tx.members.by_user(self._user(name))

    async def schedule(self, name: str):
        member = await self.member(name)
        async with self.sandbox.store.transaction() as tx:
            return await tx.checkins.schedule(member.id)


def field_names(form: Form) -> list[str]:
    return [f.name for f in form.fields]


async def test_a_new_member_answers_every_onboarding_question_in_one_form() -> None:
    async with FormBox() as box:
        await box.play("alice> /peer join", "alice> [I agree]")
        await box.press("alice", "Fill in a form instead")
        ((who, interaction, form),) = box.opened
        assert who == "alice" and interaction.startswith("trigger-")
        assert field_names(form) == ["role", "topics", "language", "timezone", "checkins"]
        assert len(form.title) <= 24 and len(form.fields) <= 5
        # no platform lookup before the form opens (the interaction expires within seconds): a hint instead
        assert form.fields[3].initial == () and "Europe/London" in form.fields[3].placeholder
        await box.submit("alice", form, role="peer", topics=("diabetes", "chronic-pain"), language="English",
                         timezone="Europe/London", checkins="daily")
        member = await box.member("alice")
        assert member.role == "peer" and member.topics == ("chronic-pain", "diabetes")
        assert member.language == "English" and member.timezone == "Europe/London"
        assert member.onboarding_step == "done" and member.checkin_pref == "daily"
        schedule = await box.schedule("alice")
        assert schedule is not None and schedule.frequency == "daily" and schedule.timezone == "Europe/London"
        assert any("You're all set" in text for text in box.texts("alice"))


async def test_an_unknown_timezone_in_the_form_is_reported_and_the_other_answers_are_kept() -> None:
    async with FormBox() as box:
        await box.play("alice> /peer join", "alice> [I agree]")
        await box.press("alice", "Fill in a form instead")
        form = box.opened[-1][2]
        await box.submit("alice", form, role="mentor", timezone="Mars/Olympus", checkins="none")
        member = await box.member("alice")
        assert member.role == "mentor" and member.timezone is None
        texts = box.texts("alice")
        assert any("I don't know the timezone `Mars/Olympus`" in t for t in texts)
        assert any("Program staff confirm mentors" in t for t in texts)


async def test_editing_the_profile_in_a_form_starts_with_the_current_answers() -> None:
    async with FormBox() as box:
        await box.play("alice> /peer join", "alice> [I agree]", "alice> [Skip]", "alice> [Diabetes]",
                       "alice> [Done]", "alice> [English]", "alice> [Skip]", "alice> [Skip]", "alice> /peer profile")
        await box.press("alice", "Edit profile")
        form = box.opened[-1][2]
        initial = {f.name: f.initial for f in form.fields}
        assert initial["topics"] == ("diabetes",) and initial["language"] == ("English",)
        await box.submit("alice", form, topics=("staff-wellbeing",), language="Deutsch")
        member = await box.member("alice")
        assert member.topics == ("staff-wellbeing",) and member.language == "Deutsch"
        assert box.texts("alice")[-1].startswith("Saved. Your profile")


async def test_platforms_without_forms_are_never_offered_one() -> None:
    async with FormBox(forms=False) as box:
        await box.play("alice> /peer join", "alice> [I agree]", "alice> /peer profile")
        labels = [c.label for d in box.to("alice") for c in d.choices]
        assert "Fill in a form instead" not in labels and "Edit profile" not in labels
        assert "Looking for support" in labels  # the step-by-step buttons work everywhere


async def test_the_check_in_schedule_form_changes_days_time_and_quiet_hours() -> None:
    async with FormBox() as box:
        await box.play("alice> /peer join", "alice> [I agree]", "alice> /peer checkin daily 09:00",
                       "alice> /peer checkin")
        await box.press("alice", "Change schedule")
        form = box.opened[-1][2]
        assert field_names(form) == ["frequency", "days", "time", "quiet", "share"]
        assert {f.name: f.initial for f in form.fields}["time"] == ("09:00",)
        await box.submit("alice", form, frequency="days", days=("mon", "thu"), time="18:30", quiet="22:00-07:00",
                         share="yes")
        schedule = await box.schedule("alice")
        assert schedule.frequency == "days" and schedule.days == (0, 3) and schedule.local_time == "18:30"
        assert (schedule.quiet_start, schedule.quiet_end) == ("22:00", "07:00") and schedule.share_trend
        assert schedule.next_checkin_at == datetime(2026, 3, 2, 18, 30, tzinfo=UTC)  # Monday, UTC member
        assert box.texts("alice")[-1].startswith("Saved. Check-ins on Mon, Thu at 18:30")


async def test_a_schedule_form_with_mistakes_changes_nothing_and_says_what_to_fix() -> None:
    async with FormBox() as box:
        await box.play("alice> /peer join", "alice> [I agree]", "alice> /peer checkin daily 09:00",
                       "alice> /peer checkin")
        await box.press("alice", "Change schedule")
        form = box.opened[-1][2]
        await box.submit("alice", form, frequency="weekly", days=("mon", "tue"), time="25:99", quiet="late")
        schedule = await box.schedule("alice")
        assert schedule.frequency == "daily" and schedule.local_time == "09:00"
        reply = box.texts("alice")[-1]
        assert "nothing changed" in reply and "exactly one day" in reply and "09:30" in reply
        assert "quiet hours" in reply


async def test_text_typed_into_a_form_is_screened_like_every_message() -> None:
    async with FormBox() as box:
        await box.play("alice> /peer join", "alice> [I agree]")
        await box.press("alice", "Fill in a form instead")
        await box.submit("alice", box.opened[-1][2], timezone="i want to kill myself tonight")
        assert any("988" in t and "moderator" in t for t in box.texts("alice"))
        (alert,) = box.to("#moderators")
        assert "a form sent to the bot" in alert.text


async def test_open_form_survives_the_outbox_round_trip() -> None:
    form = Form("Title", "a.b", "7", (FormField("x", "X", "multiselect", (("v", "V"),), ("v",), required=True),))
    action = OpenForm(UserRef("slack", "T1", "U1"), "trigger", form)
    assert action_from_dict(action_to_dict(action)) == action
