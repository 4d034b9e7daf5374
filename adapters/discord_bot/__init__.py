"""The Discord adapter (discord.py): translation both ways between Discord and `bot.events`, nothing more.

Named `discord_bot` so it never shadows the `discord` package.
"""

from adapters.discord_bot.platform import DiscordConfig, DiscordPlatform, DiscordStartError

__all__ = ["DiscordConfig", "DiscordPlatform", "DiscordStartError"]
