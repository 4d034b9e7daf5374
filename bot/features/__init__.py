"""Features: each module owns one journey (its handlers, state machine and texts) and registers with the router."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.safety.detector import Detector, load_shared
from bot.safety.escalation import SafetyDesk

if TYPE_CHECKING:
    from bot.app import App


def install_features(app: App, detector: Detector | None = None) -> None:
    """Wire every feature into the app. Safety first: its gate screens every text before any feature."""
    detector = detector or load_shared(app.settings.safety.lexicon_path or None)
    desk = SafetyDesk(detector, app.settings.safety, app.resources)
    desk.install(app.router, app.work)
    app.gate = desk
    app.safety = desk
