"""The terminal edge: `socialdesk chat`, a typed chat over the same workflow tables as Slack and
Teams, whose messages are shown in the terminal only."""
