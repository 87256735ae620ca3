"""Security and personal data (docs/domain/security.md): who is calling, what they may see and do, and the audit trail."""
