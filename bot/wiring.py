"""The composition root: config → store → adapters → core features. With `bot.cli`, the only module that knows
every layer; everything else receives what it needs as arguments.

Also the sandbox harness behind `peerbot demo`: the same core, store and outbox as production, with the console
platform and a clock that moves only when told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

from adapters.console import ClockMove, ConsolePlatform, Delivered, Press, ScriptError, Typed, parse_line
from bot.app import App
from bot.config import Settings
from bot.features import install_features
from bot.ports import ChatPlatform, Clock, ManualClock, SystemClock
from bot.scheduler import LiveScheduler, SandboxTicker
from bot.store import Store
from storage import open_store

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 10.0  # each shutdown step (events in hand, the outbox's last batch, the final drain) waits this


class StartupError(Exception):
    """The bot cannot start as configured; the message is for the operator."""


def build_app(settings: Settings, store: Store, clock: Clock, platforms: dict[str, ChatPlatform]) -> App:
    app = App(settings, store, clock, platforms)
    install_features(app)
    return app


def console_platform(settings: Settings, clock: Clock, on_delivery: Callable[[Delivered], None]) -> ConsolePlatform:
    return ConsolePlatform(
        clock=clock, moderators=frozenset(m.lower() for m in settings.console.moderators),
        timezone=settings.console.timezone, on_delivery=on_delivery,
        channels=tuple(dict.fromkeys(settings.groups.console.values())),
    )


class Sandbox:
    """`peerbot demo`: plays typed lines and clock moves; `{"idle": N}` is safe to print after `play` returns."""

    def __init__(self, settings: Settings, start: datetime, on_delivery: Callable[[Delivered], None],
                 db_path: Path | None = None) -> None:
        self.settings = settings
        self.clock = ManualClock(start)
        self.console = console_platform(settings, self.clock, on_delivery)
        self._db_path = db_path
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.store: Store | None = None

    async def __aenter__(self) -> Sandbox:
        path = self._db_path
        if path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="peerbot-sandbox-")
            path = Path(self._tmp.name) / "sandbox.db"
        self.store = await open_store(f"sqlite:///{path}")
        self.app = build_app(self.settings, self.store, self.clock, {self.console.platform: self.console})
        self.ticker = SandboxTicker(self.app.router.ticks, self.clock,
                                    self.settings.scheduler.tick_timeout_seconds, self.app.dispatcher.drain)
        await self.app.dispatcher.drain()  # what an earlier run left undelivered
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.store is not None:
            await self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def play(self, line: str) -> None:
        """One script line; returns once all the work it caused is done. Raises ScriptError for bad lines."""
        parsed = parse_line(line)
        if isinstance(parsed, ClockMove):
            await self.move_clock(self.clock.now() + parsed.delta)
        elif isinstance(parsed, Typed | Press):
            await self.app.handle(self.console.event_for(parsed))
            await self.app.dispatcher.drain()

    async def move_clock(self, target: datetime) -> None:
        """Move time forward; ticks and outbox retries that fall due on the way run at their own moment."""
        assert self.store is not None
        while True:
            due = await self.store.outbox.next_due_at()
            step = target if due is None or due > target else max(due, self.clock.now())
            await self.ticker.advance_to(step)
            delivered = await self.app.dispatcher.drain()
            if step >= target:
                break
            if delivered == 0 and step <= self.clock.now() and due is not None and due <= self.clock.now():
                await self.ticker.advance_to(target)  # what is due cannot be claimed here (leased): move on
                await self.app.dispatcher.drain()
                break


async def play_script(settings: Settings, lines: AsyncIterator[str], *, json_output: bool, idle_markers: bool,
                      start: datetime, db_path: Path | None, out: Callable[[str], None],
                      err: Callable[[str], None], echo_input: bool = True) -> int:
    """Play a script; returns the exit code (1 if any line could not be played)."""
    def show(item: Delivered) -> None:
        out(item.as_json() if json_output else item.as_text())

    failed = False
    async with Sandbox(settings, start, show, db_path) as sandbox:
        number = 0
        async for line in lines:
            number += 1
            if echo_input and not json_output and line.strip() and not line.lstrip().startswith("#"):
                out(f"> {line.rstrip()}")
            try:
                await sandbox.play(line)
            except ScriptError as exc:
                failed = True
                err(f"line {number}: {exc}")
            if idle_markers:
                out(f'{{"idle": {number}}}')
    return 1 if failed else 0


# ---------------------------------------------------------------- production


def discord_platform(settings: Settings, clock: Clock, app: App) -> ChatPlatform:
    """The Discord adapter, with the verbs the core registered (each becomes a /peer subcommand)."""
    from adapters.discord_bot import DiscordConfig, DiscordPlatform
    from bot.commands import VERBS

    config = settings.discord
    return DiscordPlatform(
        DiscordConfig(
            token=config.token.get_secret_value(), api_base=config.api_base,
            moderator_channel=config.moderator_channel, moderator_role=config.moderator_role,
            guild_ids=tuple(config.guild_ids), shards=config.shards, groups=tuple(settings.groups.discord),
            use_webhooks=config.use_webhooks,
        ),
        clock, core_verbs=tuple(app.router.commands), core_mod_verbs=tuple(app.router.moderator_commands),
        summaries={verb: summary for verb, _, summary in VERBS},
    )


async def _start_platform(platform: ChatPlatform, sink: Callable[[object], Awaitable[None]]) -> None:
    """Start one adapter; a refused token, a missing intent or a port in use becomes the operator's sentence."""
    if platform.platform == "discord":
        from adapters.discord_bot import DiscordStartError as AdapterStartError
    elif platform.platform == "slack":
        from adapters.slack import SlackStartupError as AdapterStartError
    else:
        await platform.start(sink)
        return
    try:
        await platform.start(sink)
    except AdapterStartError as exc:
        raise StartupError(str(exc)) from None


async def run_bot(settings: Settings) -> int:
    """`peerbot run`: the enabled adapters, the dispatcher loop and the wall-clock scheduler, until stopped."""
    clock = SystemClock()
    store = await open_store(settings.storage.url)
    platforms: dict[str, ChatPlatform] = {}
    console: ConsolePlatform | None = None
    if settings.console.enabled:
        console = console_platform(settings, clock, lambda item: print(item.as_text(), flush=True))
        platforms[console.platform] = console
    slack = None
    if settings.slack.enabled:
        from adapters.slack import SlackPlatform  # only a Slack deployment pays for importing bolt

        slack = SlackPlatform(settings.slack, clock)
        platforms[slack.platform] = slack
    if not platforms and not settings.discord.enabled:
        await store.close()
        raise StartupError("no adapter is enabled: enable [console], [slack] or [discord]")
    app = build_app(settings, store, clock, platforms)
    if slack is not None:
        slack.crisis_footer = app.texts.crisis_footer  # shown on the App Home tab
    if settings.discord.enabled:
        platforms["discord"] = discord_platform(settings, clock, app)
    scheduler = LiveScheduler(app.router.ticks, clock.now, settings.scheduler.tick_timeout_seconds,
                              app.dispatcher.wake)
    dispatcher_task = asyncio.create_task(app.dispatcher.run(), name="outbox-dispatcher")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async def sink(event: object) -> None:
        try:
            await app.handle(event)  # type: ignore[arg-type]
        except Exception:
            log.exception("event handling failed", extra={"event": type(event).__name__})

    scheduler.start()
    waiters = [asyncio.create_task(stop.wait())]
    if console is not None and len(platforms) == 1:
        waiters.append(asyncio.create_task(console.wait_closed()))
    try:
        for platform in platforms.values():
            await _start_platform(platform, sink)
        log.info("peerbot running", extra={"platforms": sorted(platforms)})
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        scheduler.shutdown()
        # Events already received (a crisis message may be one) are handled first, so what they enqueue goes out
        # in the drain below.
        for platform in platforms.values():
            idle = getattr(platform, "idle", None)
            if idle is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(idle(), timeout=SHUTDOWN_SECONDS)
        # Let the dispatcher finish the batch in hand, then deliver what is left while the adapters can still send.
        app.dispatcher.stop()
        try:
            await asyncio.wait_for(dispatcher_task, timeout=SHUTDOWN_SECONDS)
            await asyncio.wait_for(app.dispatcher.drain(), timeout=SHUTDOWN_SECONDS)
        except TimeoutError:
            log.warning("shutdown: undelivered messages stay in the outbox for the next start")
            dispatcher_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher_task
        # Stopping an adapter waits for any event still being handled; only then is the store closed.
        for platform in platforms.values():
            await platform.stop()
        await store.close()
    log.info("peerbot stopped")
    return 0
