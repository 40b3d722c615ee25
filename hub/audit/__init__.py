"""The audit trail: every access to patient data and every administrative action."""
