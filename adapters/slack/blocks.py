"""Outbound translation: an `OutboundMessage` becomes Slack message text and Block Kit blocks, a `Form` a modal.

Text is escaped (`&`, `<`, `>`), so nothing the core relays can become a Slack mention, link or broadcast; the only
mention the adapter ever writes is its own re-page ping. Choices become buttons (`action_id` carries the core's
action, made unique within the message by a suffix; `value` the core's value) and runs of `ChoiceKind.OPTION`
become one static select whose option values carry `action:value`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.events import Choice, ChoiceKind, Form, FormField, OutboundMessage

SECTION_LIMIT = 3000  # characters of text in one section block
FALLBACK_LIMIT = 3000  # the notification text next to the blocks
ELEMENTS_PER_ACTIONS_BLOCK = 25
OPTIONS_PER_SELECT = 100
BUTTON_LABEL_LIMIT = 75
OPTION_VALUE_LIMIT = 150
BUTTON_VALUE_LIMIT = 2000

SELECT_PREFIX = "#select"  # action_id of a select menu; the option value says which core action
HOME_PREFIX = "#home"  # action_id of an App Home button; its value is a `/peer` verb
SELECT_PLACEHOLDER = "Choose…"


class UnsendableMessage(ValueError):
    """The message cannot be expressed in Block Kit (a value longer than Slack accepts)."""


_MARKDOWN_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")


def mrkdwn(text: str) -> str:
    """The core writes Markdown bold (`**x**`); Slack's mrkdwn writes it `*x*`. Backticks mean the same."""
    return _MARKDOWN_BOLD.sub(r"*\1*", text)


def escape(text: str) -> str:
    """Slack's own escaping: after it, `<!here>` or `<@U1>` in relayed text is shown, never acted on."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Inbound text arrives escaped; the core sees what the person typed (mention markup stays as Slack sent it)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(text: str, limit: int) -> dict[str, Any]:
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text or " ", "emoji": True}


def _chunks(text: str, size: int) -> list[str]:
    """Split at line breaks where possible, so a long export or help text stays readable."""
    chunks: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        cut = cut if cut > size // 2 else size
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        chunks.append(text)
    return chunks


def button_action_id(action: str, index: int) -> str:
    return f"{action}#{index}"


def _button(choice: Choice, index: int) -> dict[str, Any]:
    if len(choice.value) > BUTTON_VALUE_LIMIT:
        raise UnsendableMessage(f"button value longer than {BUTTON_VALUE_LIMIT} characters")
    button: dict[str, Any] = {
        "type": "button", "action_id": button_action_id(choice.action, index),
        "text": _plain(choice.label, BUTTON_LABEL_LIMIT),
    }
    if choice.value:  # Slack refuses an empty value; a press without one reads as ""
        button["value"] = choice.value
    if choice.style != "default":
        button["style"] = choice.style
    return button


def _select(options: list[Choice], index: int) -> dict[str, Any]:
    rendered = []
    for choice in options[:OPTIONS_PER_SELECT]:
        value = f"{choice.action}:{choice.value}"
        if len(value) > OPTION_VALUE_LIMIT:
            raise UnsendableMessage(f"select option value longer than {OPTION_VALUE_LIMIT} characters")
        rendered.append({"text": _plain(choice.label, BUTTON_LABEL_LIMIT), "value": value})
    return {"type": "static_select", "action_id": f"{SELECT_PREFIX}{index}",
            "placeholder": _plain(SELECT_PLACEHOLDER, 150), "options": rendered}


def choice_elements(choices: tuple[Choice, ...]) -> list[dict[str, Any]]:
    """Buttons in order; consecutive options are grouped into one select at the place of the first."""
    elements: list[dict[str, Any]] = []
    run: list[Choice] = []
    for index, choice in enumerate(choices):
        if choice.kind is ChoiceKind.OPTION:
            run.append(choice)
            continue
        if run:
            elements.append(_select(run, index - len(run)))
            run = []
        elements.append(_button(choice, index))
    if run:
        elements.append(_select(run, len(choices) - len(run)))
    return elements


def actions_blocks(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "actions", "elements": elements[i:i + ELEMENTS_PER_ACTIONS_BLOCK]}
            for i in range(0, len(elements), ELEMENTS_PER_ACTIONS_BLOCK)]


def render(message: OutboundMessage, ping: str = "") -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks). `ping` is the adapter's own mention markup for a re-page (`<!here>`), unescaped."""
    body = mrkdwn(escape(message.text))
    if ping:
        body = f"{ping} {body}"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
                                    for chunk in _chunks(body, SECTION_LIMIT)]
    blocks += actions_blocks(choice_elements(message.choices))
    fallback = body if len(body) <= FALLBACK_LIMIT else body[: FALLBACK_LIMIT - 1] + "…"
    return fallback or " ", blocks


def decode_action(action: dict[str, Any]) -> tuple[str, str, str] | None:
    """A `block_actions` element back to (core action, value, label); None if it is not one of ours.
    App Home buttons decode to (HOME_PREFIX, verb, label)."""
    action_id = action.get("action_id")
    if not isinstance(action_id, str):
        return None
    if action_id.startswith(SELECT_PREFIX):
        selected = action.get("selected_option") or {}
        raw = selected.get("value")
        if not isinstance(raw, str) or ":" not in raw:
            return None
        name, _, value = raw.partition(":")
        return name, value, str((selected.get("text") or {}).get("text", ""))
    label = str((action.get("text") or {}).get("text", ""))
    value = action.get("value", "")
    if not isinstance(value, str):
        return None
    if action_id.startswith(HOME_PREFIX):
        return HOME_PREFIX, value, label
    name, sep, _ = action_id.rpartition("#")
    if not sep or not name:
        return None
    return name, value, label


# ---------------------------------------------------------------- App Home

HOME_TITLE = "peerbot: peer support"
HOME_INTRO = (
    "I connect people living with the same condition, and the staff who support them, for peer support: "
    "anonymous group posts under a pseudonym, a mentor if you want one, and gentle check-ins.\n"
    "Nothing about you is stored until you agree. Everything works from here, from our DM, or with `/peer`."
)
HOME_BUTTONS = (("Join", "join", "primary"), ("My profile", "profile", "default"),
                ("Check-in settings", "checkin", "default"), ("Help", "help", "default"))


def home_view(crisis_footer: str) -> dict[str, Any]:
    """The App Home tab. Static on purpose: the adapter holds no member data; each button is the typed verb, and
    the answer (profile, check-in settings) arrives in the DM with the bot."""
    elements = []
    for index, (label, verb, style) in enumerate(HOME_BUTTONS):
        button: dict[str, Any] = {"type": "button", "action_id": f"{HOME_PREFIX}{index}",
                                  "text": _plain(label, BUTTON_LABEL_LIMIT), "value": verb}
        if style != "default":
            button["style"] = style
        elements.append(button)
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": _plain(HOME_TITLE, 150)},
            {"type": "section", "text": {"type": "mrkdwn", "text": escape(HOME_INTRO)}},
            {"type": "actions", "elements": elements},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(crisis_footer)[:SECTION_LIMIT]}]},
        ],
    }


# ---------------------------------------------------------------- forms as modals

MODAL_CALLBACK = "peerbot.form"
FIELD_ACTION = "value"  # the action_id of every input element; the block_id is the field's name
MODAL_TITLE_LIMIT = 24
MODAL_BUTTON_LIMIT = 24
LABEL_LIMIT = 2000
PLACEHOLDER_LIMIT = 150
METADATA_LIMIT = 3000
CANCEL_LABEL = "Cancel"


def _option(value: str, label: str) -> dict[str, Any]:
    if len(value) > OPTION_VALUE_LIMIT:
        raise UnsendableMessage(f"form option value longer than {OPTION_VALUE_LIMIT} characters")
    return {"text": _plain(label, BUTTON_LABEL_LIMIT), "value": value}


def _input_element(spec: FormField) -> dict[str, Any]:
    if spec.kind == "text":
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": FIELD_ACTION,
                                   "multiline": spec.multiline}
        if spec.initial and spec.initial[0]:
            element["initial_value"] = spec.initial[0]
        if spec.max_length:
            element["max_length"] = spec.max_length
    else:
        if not spec.options:
            raise UnsendableMessage(f"form field {spec.name!r} has no options")
        options = [_option(value, label) for value, label in spec.options[:OPTIONS_PER_SELECT]]
        chosen = [o for o in options if o["value"] in spec.initial]
        element = {"type": "static_select" if spec.kind == "select" else "multi_static_select",
                   "action_id": FIELD_ACTION, "options": options}
        if chosen and spec.kind == "select":
            element["initial_option"] = chosen[0]
        elif chosen:
            element["initial_options"] = chosen
    if spec.placeholder:
        element["placeholder"] = _plain(spec.placeholder, PLACEHOLDER_LIMIT)
    return element


def modal_view(form: Form) -> dict[str, Any]:
    """A Slack modal for a core form; the form's action and value travel in `private_metadata`."""
    metadata = json.dumps({"action": form.action, "value": form.value}, separators=(",", ":"))
    if len(metadata) > METADATA_LIMIT:
        raise UnsendableMessage("form value too long for a modal")
    view_blocks: list[dict[str, Any]] = []
    if form.intro:
        view_blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": escape(form.intro)[:SECTION_LIMIT]}})
    for spec in form.fields:
        view_blocks.append({"type": "input", "block_id": spec.name, "optional": not spec.required,
                            "label": _plain(spec.label, LABEL_LIMIT), "element": _input_element(spec)})
    return {"type": "modal", "callback_id": MODAL_CALLBACK, "title": _plain(form.title, MODAL_TITLE_LIMIT),
            "submit": _plain(form.submit_label, MODAL_BUTTON_LIMIT), "close": _plain(CANCEL_LABEL, MODAL_BUTTON_LIMIT),
            "private_metadata": metadata, "blocks": view_blocks}


def read_modal(view: dict[str, Any]) -> tuple[str, str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """A submitted modal back to (form action, form value, values per field name). Raises ValueError/KeyError/
    TypeError when the view is not one of ours or is malformed."""
    metadata = json.loads(view["private_metadata"])
    action, value = metadata["action"], metadata.get("value", "")
    if not isinstance(action, str) or not isinstance(value, str):
        raise ValueError("private_metadata is not a peerbot form")
    fields: list[tuple[str, tuple[str, ...]]] = []
    for name, elements in (view.get("state") or {}).get("values", {}).items():
        entered = elements.get(FIELD_ACTION) or {}
        kind = entered.get("type")
        if kind == "plain_text_input":
            text = entered.get("value")
            values: tuple[str, ...] = (unescape(text),) if isinstance(text, str) and text else ()
        elif kind == "static_select":
            chosen = entered.get("selected_option")
            values = (str(chosen["value"]),) if chosen else ()
        elif kind == "multi_static_select":
            values = tuple(str(o["value"]) for o in entered.get("selected_options") or ())
        else:
            continue
        fields.append((str(name), values))
    return action, value, tuple(fields)
