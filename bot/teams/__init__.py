"""The Microsoft Teams edge: every botbuilder import stays in this package."""
