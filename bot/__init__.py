"""clientbot: client-organisation management for recruitment agencies, in Slack."""
