"""The Slack adapter: slack-bolt in Socket Mode or over HTTP, translating Slack <-> `bot.events` and nothing more.

`platform` holds the `ChatPlatform`, `inbound` and `blocks` the two directions of translation; the app manifest
for creating the Slack app is `manifest.yml` next to them.
"""

from adapters.slack.platform import SlackPlatform, SlackStartupError

__all__ = ["SlackPlatform", "SlackStartupError"]
