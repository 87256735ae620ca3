"""Legal aid's domain rules, free of I/O."""
