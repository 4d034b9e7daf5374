"""How fast the Slack adapter acknowledges (Slack wants an answer within 3 s), with the real core behind it.

Sends N signed DM events (a mix of plain and crisis messages) from C concurrent senders to the app in HTTP mode on
127.0.0.1, with the real core, store and outbox and a local fake Slack Web API; prints the acknowledgement times
(p50, p99, max) and how long the core then took to handle and deliver everything.
Run: .venv/bin/python bench/bench_slack_ack.py [--events 400] [--senders 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.slack import SlackPlatform
from bot.config import Settings
from bot.ports import SystemClock
from bot.wiring import build_app
from storage import open_store
from tests.slack_fake import FakeSlack, SlackClient, dm_event

TEXTS = ["hi, how does this work?", "bad flare today but coping", "i want to kill myself", "/peer help"]


async def main(events: int, senders: int) -> None:
    async with FakeSlack() as fake:
        settings = Settings(console={"enabled": False}, safety={"oncall": []}, slack={
            "enabled": True, "mode": "http", "bot_token": "xoxb-bench", "signing_secret": "test-signing-secret",
            "port": 0, "api_url": fake.url, "moderator_channel": "CMODS", "post_interval_seconds": 0})
        with tempfile.TemporaryDirectory() as folder:
            store = await open_store(f"sqlite:///{folder}/bench.db")
            clock = SystemClock()
            platform = SlackPlatform(settings.slack, clock)
            app = build_app(settings, store, clock, {"slack": platform})
            await platform.start(app.handle)
            dispatcher = asyncio.create_task(app.dispatcher.run(idle_poll_seconds=0.05))
            client = SlackClient(f"http://127.0.0.1:{platform.http_port}/slack/events")
            acks: list[float] = []
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(events):
                queue.put_nowait(n)

            async def sender() -> None:
                while not queue.empty():
                    n = queue.get_nowait()
                    body = dm_event(f"U{n % 50}", TEXTS[n % len(TEXTS)])
                    started = time.perf_counter()
                    assert await client.event(body) == 200
                    acks.append(time.perf_counter() - started)

            began = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(senders)))
            acked = time.perf_counter() - began
            await platform.idle()
            app.dispatcher.stop()  # it finishes its batch; what is left is delivered here
            await dispatcher
            await app.dispatcher.drain()
            done = time.perf_counter() - began
            acks.sort()
            print(f"{events} events from {senders} concurrent senders")
            print(f"ack: p50 {statistics.median(acks) * 1000:.1f} ms, p99 {acks[int(len(acks) * 0.99) - 1] * 1000:.1f}"
                  f" ms, max {acks[-1] * 1000:.1f} ms (Slack's limit: 3000 ms)")
            print(f"all acknowledged after {acked:.2f} s; all handled and delivered after {done:.2f} s "
                  f"({len([c for c in fake.calls if c.method == 'chat.postMessage'])} messages posted)")
            await client.close()
            await platform.stop()
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--senders", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.senders))
