"""The Slack edge: verify and parse requests, call handlers, render outcomes to Block Kit."""
