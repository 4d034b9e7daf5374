"""peerbot: the platform-free core (events, ports, router, safety, features, outbox, scheduler)."""

__version__ = "0.1.0"
