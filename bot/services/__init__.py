"""Domain logic: rules and queries, no Slack. Every write checks the actor's role here."""
