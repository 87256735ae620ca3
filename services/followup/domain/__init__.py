"""Follow-up's domain rules, free of I/O."""
