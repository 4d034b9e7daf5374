"""Benchmark for the crisis-language detector alone: messages per second and per-message latency.

Run with ``python bench/bench_detector.py [--lexicon-only]``; it screens a mix of chat-length messages (mostly ordinary
peer-support chat, some risk messages, some obfuscated) on one core and prints msgs/s, p50 and p99 in µs.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.safety.detector import Detector

BENIGN = [
    "Had a rough night shift, the ward was chaos and I'm exhausted but glad to be home.",
    "My MS fatigue is brutal today, anyone else find that the heat makes it worse?",
    "Blood sugar was 4.2 at 3am, had some juice and I'm fine now, just annoyed.",
    "Does anyone have tips for pacing on bad pain days? My back is killing me.",
    "lol my cat just knocked my coffee over again",
    "took 2 pills at 10pm for my migraine and slept ok for once",
    "anyone else on nights this week? need someone to vent with about the rota",
    "my neurologist changed my meds again, fingers crossed this one works",
    "Reminder: suicide prevention training is on Tuesday at 2pm in room 4",
    "I'd kill for a coffee right now, 13 hours on my feet",
    "the new pharmacy keeps messing up my prescription and I'm so done with it",
    "finally got my rheumatology appointment, only took 8 months lol",
    "burnout is real, I've worked five doubles this month and my back is wrecked",
    "Does gabapentin make anyone else really drowsy? thinking of asking to switch",
    "thank you all for the support this week, it honestly means a lot ❤️",
    "we had two overdoses come in on my shift, rough night but the team was great",
]
RISK = [
    "i just want to die, i cant do this anymore",
    "I've taken 40 pills",
    "my friend said she wants to kill herself and I don't know what to do",
    "k i l l  m y s e l f",
    "goodbye everyone, this is my last message",
    "i've been cutting again, relapsed after 200 days",
]
MESSAGES = BENIGN * 5 + RISK  # roughly 93% ordinary chat, as in a real community


def main(rounds: int = 400, use_model: bool = True) -> None:
    detector = Detector.load(use_model=use_model)
    for text in MESSAGES:  # warm up
        detector.screen(text)
    timings: list[float] = []
    clock = time.perf_counter_ns
    start = time.perf_counter()
    for _ in range(rounds):
        for text in MESSAGES:
            t0 = clock()
            detector.screen(text)
            timings.append((clock() - t0) / 1000)
    elapsed = time.perf_counter() - start
    timings.sort()
    count = len(timings)
    print(f"detector {detector.version}: {count} messages, mean length {statistics.mean(map(len, MESSAGES)):.0f} chars")
    print(f"throughput  {count / elapsed:,.0f} messages/s (one core)")
    print(f"latency     p50 {timings[count // 2]:.1f} µs   p99 {timings[int(count * 0.99)]:.1f} µs   "
          f"max {timings[-1]:.1f} µs")  # fmt: skip


if __name__ == "__main__":
    main(use_model="--lexicon-only" not in sys.argv[1:])
