"""Features: each module owns one journey (its handlers, state machine and texts) and registers with the router."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App


def install_features(app: App) -> None:
    """Wire every feature into the app's router (help and unknown verbs are the router's own)."""
