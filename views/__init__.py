"""Block Kit builders: pure functions, data in, dict out. No I/O."""
