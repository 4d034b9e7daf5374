"""Adapters: translate each chat platform's SDK events into `bot.events` and carry out outbound actions."""
