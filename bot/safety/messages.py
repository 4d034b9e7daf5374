"""Every sentence the safety journey says, to the person and to moderators, in one place for clinical review.

Safe-messaging practice: acknowledge, tell them a human knows, say plainly the bot is not an emergency service,
give crisis lines (and the emergency number when life may be in danger now), never repeat method details back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.safety.resources import LocaleResources
from bot.store import Escalation

CATEGORY_NAMES = {
    "suicidal_ideation": "suicidal thoughts",
    "self_harm": "self-harm",
    "plan_means": "a plan or means",
    "overdose_medical": "overdose or medical emergency",
    "harm_to_others": "harm to others",
    "goodbye_finality": "goodbye or finality",
    "third_party": "worry about someone else",
    "screening_failed": "automatic screening failed",
}


def _resource_lines(resources: LocaleResources) -> str:
    return "\n".join(f"• {resource.line()}" for resource in resources.crisis)


def person_reply(severity: str, categories: tuple[str, ...], resources: LocaleResources) -> str:
    """The first answer to someone whose message raised a concern."""
    lines: list[str] = []
    third_party_only = set(categories) <= {"third_party"}
    if severity == "imminent":
        lines.append(
            f"If you or someone with you is in danger right now, or has taken something, please call "
            f"{resources.emergency} or go to the nearest emergency department now."
        )
    if third_party_only:
        lines.append(
            "It sounds like you're worried about someone. Thank you for saying so: that matters. "
            "I've let a human moderator know, so someone can help you think about next steps."
        )
        if severity != "imminent":
            lines.append(f"If they are in immediate danger, call {resources.emergency}.")
        lines.append("These services can help you, and them, right now:")
    elif "harm_to_others" in categories and len(categories) == 1:
        lines.append(
            "Thank you for telling us how you're feeling. I've let a human moderator know so someone can "
            "check in with you."
        )
        lines.append(f"If anyone is in danger right now, call {resources.emergency}. You can also talk to:")
    else:
        lines.append(
            "Thank you for telling us. It sounds like you're going through something really painful, and you "
            "deserve support right now. I've let a human moderator know, so someone can check in with you."
        )
        lines.append("I'm a bot, not an emergency service. You can talk to someone now:")
    lines.append(_resource_lines(resources))
    lines.append("You're not alone.")
    return "\n".join(lines)


def person_follow_up(severity: str, resources: LocaleResources) -> str:
    """For further alarming messages in the same case: brief, still with a way to a human."""
    urgent = (f"If you are in danger right now, please call {resources.emergency}. "
              if severity == "imminent" else "")
    return (f"{urgent}A moderator already knows and will reach out. You can talk to someone now:\n"
            + _resource_lines(resources))


def person_fail_closed(resources: LocaleResources) -> str:
    return (
        "I couldn't check your message automatically, so I've passed it to a human moderator to be safe. "
        f"If you are struggling or in danger right now, please reach out:\n{_resource_lines(resources)}\n"
        f"In an emergency call {resources.emergency}."
    )


def _when(at: datetime) -> str:
    return at.strftime("%a %d %b %H:%M UTC")


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def describe_categories(categories: tuple[str, ...]) -> str:
    return ", ".join(CATEGORY_NAMES.get(c, c.replace("_", " ")) for c in categories) or "unspecified"


def alert_text(case: Escalation, show_excerpt: bool) -> str:
    lines = [
        f"🚨 Safety alert #{case.id} · {case.severity.upper()}",
        f"What: {describe_categories(case.categories)}",
        f"Where: {case.location}",
        f"Who: {case.subject_label}",
        f"When: {_when(case.opened_at)}",
    ]
    if case.message_count > 1:
        lines.append(f"Messages in this case: {case.message_count}")
    if show_excerpt and case.excerpt:
        lines.append(f"Message: “{case.excerpt}”")
    if case.held:
        count = len(case.held)
        lines.append(f"{'A group post' if count == 1 else f'{count} group posts'} from this person "
                     f"{'is' if count == 1 else 'are'} held, unpublished, until a moderator decides.")
    lines.append(f"Acknowledge to stop re-paging. Typed: /peer mod ack {case.id} · /peer mod resolve {case.id}")
    return "\n".join(lines)


def alert_status_text(case: Escalation, show_excerpt: bool, moderator: str) -> str:
    """The original alert, rewritten once a moderator has acknowledged or resolved it."""
    head = alert_text(case, show_excerpt).splitlines()[:-1]
    if case.state == "resolved":
        head[0] = f"✅ Resolved: safety alert #{case.id} · {case.severity.upper()}"
        head.append(f"Resolved by {moderator} at {_when(case.resolved_at or case.opened_at)}.")
    else:
        head[0] = f"👀 Acknowledged: safety alert #{case.id} · {case.severity.upper()}"
        head.append(f"Acknowledged by {moderator} at {_when(case.acknowledged_at or case.opened_at)}. "
                    f"Typed: /peer mod resolve {case.id}")
    return "\n".join(head)


def severity_raised_text(case: Escalation) -> str:
    return (f"⬆️ Safety alert #{case.id} ({case.severity.upper()}): a further message from "
            f"{case.subject_label} ({describe_categories(case.categories)}). Please look now.")


def joined_acknowledged_text(case: Escalation) -> str:
    return (f"Safety alert #{case.id} (acknowledged): another message from {case.subject_label}, "
            f"{case.message_count} in this case.")


def repage_text(case: Escalation, count: int, limit: int, waited: timedelta) -> str:
    return (f"⏰ Re-page {count}/{limit}: safety alert #{case.id} ({case.severity.upper()}, "
            f"{describe_categories(case.categories)}, {case.location}) has not been acknowledged for "
            f"{_minutes(waited)}. Typed: /peer mod ack {case.id}")


def breach_text(case: Escalation, waited: timedelta) -> str:
    return (f"⚠️ BREACH: safety alert #{case.id} ({case.severity.upper()}) has gone unacknowledged for "
            f"{_minutes(waited)} after {case.repage_count} re-pages. Acknowledge now: /peer mod ack {case.id}")


def oncall_dm_text(case: Escalation, count: int) -> str:
    return (f"You are on call: safety alert #{case.id} ({case.severity.upper()}) is unacknowledged "
            f"(re-page {count}). Please look at the moderator channel now, or type /peer mod ack {case.id}.")


OUTREACH_OPENING = (
    "Hi, I'm one of the moderators of this peer-support community. I saw your message and wanted to check "
    "in with you. You can reply here, and your replies come to me through the bot."
)


def outreach_connected(case: Escalation) -> str:
    return (f"You're connected to safety alert #{case.id} ({case.subject_label}) through the bot: they don't "
            f"see who you are, you don't see who they are. Write to them with /peer mod say {case.id} <text>. "
            "Their replies come to you here.")


def relayed_to_person(text: str) -> str:
    return f"Moderator: {text}"


def relayed_to_moderator(case: Escalation, text: str) -> str:
    return f"Safety alert #{case.id} · {case.subject_label}: {text}"


def outreach_closed_for_person(resources: LocaleResources) -> str:
    return ("The moderator has closed this conversation. You can write to the moderators again any time, and "
            f"these services are there for you:\n{_resource_lines(resources)}")


HELD_POST_PUBLISHED = "The held group posts of safety alert #{id} ({count}) were published."
HELD_POST_DISCARDED = "The held group posts of safety alert #{id} ({count}) were discarded."


def crisis_reply_undelivered(case_id: int | None) -> str:
    """To moderators: the person in crisis did not get the bot's reply with the crisis resources."""
    which = f"alert #{case_id}" if case_id is not None else "a recent safety alert"
    return (f"⚠️ The crisis reply to the person in {which} could not be delivered (the platform refused it, for "
            "example because their direct messages are closed). They have NOT received the crisis resources. "
            "Please reach out to them another way as soon as you can.")
