"""Security and personal data (DESIGN §6): who is calling, what they may see and do, and the audit trail."""
