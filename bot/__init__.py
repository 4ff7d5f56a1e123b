"""socialdesk: a school's staff Social Media Policy, run inside Slack and Microsoft Teams."""
