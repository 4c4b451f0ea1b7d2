"""Post-loan monitoring beyond the visit: the borrower's periodic figures, repayment status, early-warning signals and risk-grade proposals."""
