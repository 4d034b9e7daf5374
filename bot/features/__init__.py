"""Features: each module owns one journey (its handlers, state machine and texts) and registers with the router."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.events import Choice, ConversationRef, UserRef
from bot.safety.detector import Detector, load_shared
from bot.safety.escalation import SafetyDesk
from bot.store import Member, Transaction

if TYPE_CHECKING:
    from bot.app import App


def install_features(app: App, detector: Detector | None = None) -> None:
    """Wire every feature into the app. Safety first: its gate screens every text before any feature."""
    from bot.features.checkins import Checkins
    from bot.features.data_rights import DataRights
    from bot.features.groups import Groups
    from bot.features.onboarding import Onboarding
    from bot.features.pairing import MentorPairing
    from bot.features.surveys import Surveys

    detector = detector or load_shared(app.settings.safety.lexicon_path or None)
    desk = SafetyDesk(detector, app.settings.safety, app.resources)
    desk.install(app.router, app.work)
    app.gate = desk
    app.safety = desk
    app.dispatcher.on_dead_letter = desk.rescue_dead_alert

    onboarding = Onboarding(app)
    onboarding.install()
    groups = Groups(app)
    groups.install()
    surveys = Surveys(app)  # before check-ins: a DM answering the survey's last question is not a check-in note
    surveys.install()
    checkins = Checkins(app)
    checkins.install()
    onboarding.listeners.append(checkins.profile_changed)
    onboarding.on_finished.append(surveys.onboarding_finished)
    onboarding.settings_fields["surveys"] = surveys.profile_setting
    onboarding.profile_lines.append("Surveys: `/peer profile surveys off` stops the anonymous surveys for good "
                                    "(`on` allows them again).")
    onboarding.profile_choices.append(Choice("Survey settings", "sv.settings", ""))
    rights = DataRights(app)
    rights.install()
    rights.exporters["checkins"] = checkins.export
    rights.exporters["surveys"] = surveys.export
    pairing = MentorPairing(app)
    pairing.install()
    onboarding.listeners.append(pairing.profile_changed)
    checkins.support_choices.append(pairing.trend_choices)
    checkins.note_or_message.append(pairing.note_or_message)
    pairing.keepers["note"] = checkins.keep_note
    surveys.suggestion_or_message.append(pairing.suggestion_or_message)
    pairing.keepers["suggestion"] = surveys.keep_suggestion
    rights.exporters["pairing"] = pairing.export
    rights.before_forget.append(pairing.member_leaving)
    desk.location_override = pairing.pair_location
    desk.report_sections.append(pairing.waitlist_summary)
    desk.report_sections.append(surveys.report_headline)
    desk.report_files.append(surveys.report_file)

    async def paired_as(tx: Transaction, member: Member) -> str | None:
        active = await tx.pairing.active_pairings_of(member.id)
        return active[0].side_of(member.id) if active else None

    surveys.paired_as = paired_as

    async def pseudonym_of(tx: Transaction, user: UserRef) -> str | None:
        member = await tx.members.by_user(user)
        return member.pseudonym if member else None

    def location_of(conversation: ConversationRef) -> str:
        if conversation.kind == "dm":
            return "DM with the bot"
        group = groups.group_of_channel(conversation)
        return f"group {group}" if group else f"channel {conversation.channel_id}"

    desk.label_for = pseudonym_of
    desk.location_for = location_of
