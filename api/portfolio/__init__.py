"""The bank's portfolio: borrowers, facilities, collateral, projects and what the borrower declared."""
