"""`peerbot`: the command line (run, demo, scan, check-config, outbox, discord invite-url). Exit codes: 0 ok,
1 failure, 2 bad config or usage. Errors a user can cause are one clear line each, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime
from pathlib import Path

from bot import __version__
from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure_logging

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peerbot", description="Self-hostable peer-support bot for Slack and Discord.",
    )
    parser.add_argument("--version", action="version", version=f"peerbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", type=Path, default=None,
                       help="TOML config file (default: peerbot.toml if present, else built-in defaults)")
        return p

    with_config(sub.add_parser("run", help="run the bot with the adapters enabled in the config"))

    demo = with_config(sub.add_parser(
        "demo", help="the local console sandbox (simulated members, channels and clock)",
        description="Interactive by default: type 'alice> /peer help', '#diabetes bob> hi', 'alice> [I agree]' "
                    "to press a button, '~ 2h' to move the clock. With --script, plays a file (or - for stdin).",
    ))
    demo.add_argument("--script", metavar="FILE", help="play this script non-interactively ('-': standard input)")
    demo.add_argument("--json", action="store_true", help="one JSON object per delivered message")
    demo.add_argument("--db", type=Path, default=None, help="keep the sandbox database here (default: temporary)")
    demo.add_argument("--start", default=None, help="sandbox start time, ISO 8601 (default: now)")
    demo.add_argument("--verbose", action="store_true", help="log at the configured level (default: critical only)")

    with_config(sub.add_parser(
        "scan", help="screen messages for crisis language: one per line in, one JSON object per line out",
    ))
    with_config(sub.add_parser("check-config", help="validate a config: exit 0, or list every problem and exit 2"))

    report = with_config(sub.add_parser(
        "report", help="the program-evaluation report (aggregates only; small cells suppressed)",
        description="Figures for a period: engagement, pairing, well-being, satisfaction and safety. Cells of fewer "
                    "than [evaluation] min_cell_size people are suppressed (null in JSON, 'fewer than 5' in HTML).",
    ))
    report.add_argument("--db", type=Path, default=None, help="the SQLite database (default: [storage] url)")
    report.add_argument("--from", dest="start", default=None, metavar="DATE",
                        help="first day, YYYY-MM-DD (default: 90 days before --to)")
    report.add_argument("--to", dest="end", default=None, metavar="DATE", help="last day, YYYY-MM-DD (default: today)")
    report.add_argument("--format", default="json", choices=["html", "json", "csv"])
    report.add_argument("--out", type=Path, default=None, help="write here (default: standard output)")
    discord_cmd = sub.add_parser("discord", help="Discord set-up helpers")
    discord_sub = discord_cmd.add_subparsers(dest="discord_command", metavar="SUBCOMMAND", required=True)
    invite = with_config(discord_sub.add_parser(
        "invite-url", help="print the OAuth2 URL that adds the bot with exactly the permissions it needs"))
    invite.add_argument("--application-id", default=None,
                        help="the application id (default: [discord] application_id, else read from the token)")

    outbox = with_config(sub.add_parser("outbox", help="inspect the durable outbox (dead letters by default)"))
    outbox.add_argument("--status", default="dead", choices=["pending", "delivered", "dead", "cancelled", "all"])
    outbox.add_argument("--requeue", type=int, metavar="ID", help="put a dead-lettered item back in the queue")
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    if args.command is None:
        _parser().print_help()
        return EXIT_USAGE
    try:
        settings = load_settings(args.config, required=args.config is not None)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    if args.command == "check-config":
        print(f"config ok: {args.config or 'built-in defaults'}")
        return EXIT_OK
    quiet = args.command == "demo" and not args.verbose
    configure_logging("CRITICAL" if quiet else settings.logging.level)
    try:
        match args.command:
            case "run":
                return _run_async(_run(settings))
            case "demo":
                return _run_async(_demo(settings, args))
            case "scan":
                return _scan(settings)
            case "outbox":
                return _run_async(_outbox(settings, args))
            case "report":
                return _run_async(_report(settings, args))
            case "discord":
                return _discord_invite(settings, args)
    except KeyboardInterrupt:
        return EXIT_FAIL
    return EXIT_USAGE


def _run_async(coro: object) -> int:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _fail(message: str) -> int:
    print(f"peerbot: {message}", file=sys.stderr)
    return EXIT_USAGE


async def _run(settings: Settings) -> int:
    from bot.store import StoreError
    from bot.wiring import StartupError, run_bot

    try:
        return await run_bot(settings)
    except (StoreError, StartupError) as exc:
        return _fail(str(exc))


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store import StoreError
    from bot.wiring import play_script

    try:
        start = datetime.fromisoformat(args.start) if args.start else datetime.now(UTC).replace(second=0,
                                                                                               microsecond=0)
    except ValueError:
        return _fail(f"--start: not an ISO 8601 time: {args.start!r}")
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)

    def out(text: str) -> None:
        try:
            print(text, flush=True)
        except BrokenPipeError:  # the reader went away (e.g. `| head`): stop, do not retry into a closed pipe
            raise SystemExit(EXIT_FAIL) from None

    def err(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        if args.script is None:
            if not args.json:
                out(_DEMO_BANNER.format(mods=", ".join(settings.console.moderators)))
            return await play_script(settings, _interactive_lines(), json_output=args.json, idle_markers=False,
                                     start=start, db_path=args.db, out=out, err=err, echo_input=False)
        if args.script == "-":
            lines = _stdin_lines()
        else:
            try:
                text = await asyncio.to_thread(Path(args.script).read_text, encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                return _fail(f"--script: cannot read {args.script}: {exc}")
            lines = _iterate(text.splitlines())
        return await play_script(settings, lines, json_output=args.json, idle_markers=args.json and args.script == "-",
                                 start=start, db_path=args.db, out=out, err=err)
    except StoreError as exc:
        return _fail(str(exc))


_DEMO_BANNER = """peerbot sandbox: simulated members, channels #chronic-pain #diabetes #staff-wellbeing #moderators.
Type as a member with 'alice> /peer help'; a line without 'name>' is from the last member who spoke.
'#diabetes bob> hi' posts in a channel, 'alice> [I agree]' presses a button, '~ 2h' moves the clock.
Moderators: {mods}. Ctrl-D to leave."""


async def _iterate(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def _stdin_lines() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line.rstrip("\n")


async def _interactive_lines() -> AsyncIterator[str]:
    from adapters.console import with_member

    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    loop = asyncio.get_running_loop()
    current = "alice"
    while True:
        try:
            line = await loop.run_in_executor(None, input, f"{current}> ")
        except EOFError:
            return
        line, current = with_member(line, current)
        yield line


def _scan(settings: Settings) -> int:
    try:
        from bot.safety.detector import Detector, LexiconError
    except ImportError:
        return _fail("scan: the crisis detector is not built yet")
    try:
        detector = Detector.load(settings.safety.lexicon_path or None)
    except LexiconError as exc:
        return _fail(f"safety.lexicon_path: {exc}")
    for line in sys.stdin:
        result = detector.screen(line.rstrip("\n"))
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return EXIT_OK


def _discord_invite(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.discord_bot.invite import application_id_from_token, invite_url

    app_id = args.application_id or settings.discord.application_id or application_id_from_token(
        settings.discord.token.get_secret_value())
    if not app_id or not str(app_id).isdigit():
        return _fail("discord invite-url: set [discord] application_id (or discord.token, or --application-id)")
    print(invite_url(str(app_id), webhooks=settings.discord.use_webhooks))
    return EXIT_OK


async def _outbox(settings: Settings, args: argparse.Namespace) -> int:
    from bot.outbox import describe_item
    from bot.store import OutboxStatus, StoreError
    from storage import open_store

    try:
        store = await open_store(settings.storage.url)
    except StoreError as exc:
        return _fail(str(exc))
    try:
        if args.requeue is not None:
            ok = await store.outbox.requeue(args.requeue, datetime.now(UTC))
            print(f"requeued {args.requeue}" if ok else f"no dead-lettered item {args.requeue}")
            return EXIT_OK if ok else EXIT_FAIL
        status = None if args.status == "all" else OutboxStatus(args.status)
        counts = await store.outbox.counts()
        print(json.dumps({"counts": {k.value: v for k, v in counts.items()}}))
        for item in await store.outbox.items(status, limit=1000):
            print(json.dumps(describe_item(item)))
        return EXIT_OK
    finally:
        await store.close()


async def _report(settings: Settings, args: argparse.Namespace) -> int:
    from bot.evaluation import render
    from bot.evaluation.report import build, period_for
    from bot.store import StoreError
    from storage import open_store, sqlite_path

    try:
        start = date.fromisoformat(args.start) if args.start else None
        end = date.fromisoformat(args.end) if args.end else None
        period = period_for(start, end, datetime.now(UTC).date())
    except ValueError as exc:
        return _fail(f"report: dates look like 2026-03-31 ({exc})")
    try:
        path = str(args.db) if args.db is not None else sqlite_path(settings.storage.url)
    except StoreError as exc:
        return _fail(str(exc))
    found = await asyncio.to_thread(lambda: Path(path).resolve() if Path(path).is_file() else None)
    if found is None:
        return _fail(f"report: no database at {path}")
    try:
        store = await open_store(f"sqlite:///{found}")
    except StoreError as exc:
        return _fail(str(exc))
    try:
        async with store.transaction() as tx:
            figures = await build(tx, period, settings.evaluation.min_cell_size)
    finally:
        await store.close()
    if args.format == "html":
        document = render.to_html(figures, settings.community.name)
    else:
        document = render.RENDERERS[args.format](figures)
    if args.out is None:
        sys.stdout.write(document)
    else:
        try:
            await asyncio.to_thread(args.out.write_text, document, encoding="utf-8")
        except OSError as exc:
            return _fail(f"--out: cannot write {args.out}: {exc}")
        print(f"report written to {args.out}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
