"""The audit trail: every state change, append-only, hash-chained so that tampering is detectable."""
