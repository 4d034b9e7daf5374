"""Pseudonyms peers see: readable ("Quiet Heron 42"), drawn at random, never derived from a platform name or id."""

from __future__ import annotations

import re
import secrets

ADJECTIVES = (
    "Quiet", "Gentle", "Bright", "Calm", "Brave", "Kind", "Steady", "Warm", "Patient", "Hopeful", "Clever", "Merry",
    "Honest", "Curious", "Golden", "Silver", "Amber", "Misty", "Sunny", "Mellow", "Tender", "Nimble", "Humble",
    "Lucky", "Cosy", "Swift", "Wise", "Soft", "Bold", "Peaceful", "Cheerful", "Graceful", "Loyal", "Serene",
    "Radiant", "Sturdy", "Willow", "Coral", "Velvet", "Breezy", "Dappled", "Earnest", "Fair", "Jolly", "Lively",
    "Noble", "Placid", "Rosy", "Snug", "Thoughtful",
)
ANIMALS = (
    "Heron", "Otter", "Fox", "Owl", "Badger", "Finch", "Robin", "Sparrow", "Deer", "Hare", "Wren", "Swan", "Seal",
    "Dolphin", "Turtle", "Panda", "Koala", "Lynx", "Falcon", "Crane", "Beaver", "Bison", "Dove", "Hedgehog",
    "Lark", "Marten", "Moose", "Puffin", "Raven", "Salmon", "Stork", "Tern", "Walrus", "Yak", "Zebra", "Alpaca",
    "Bee", "Camel", "Eagle", "Gecko", "Ibis", "Jay", "Kestrel", "Llama", "Magpie", "Newt", "Orca", "Pelican",
    "Quail", "Starling",
)
PATTERN = re.compile(r"^[A-Z][a-z]+ [A-Z][a-z]+ \d{2}$")


def draw() -> str:
    """One candidate pseudonym; the caller checks it is free (50 x 50 x 90 = 225,000 of them)."""
    return f"{secrets.choice(ADJECTIVES)} {secrets.choice(ANIMALS)} {secrets.randbelow(90) + 10}"
