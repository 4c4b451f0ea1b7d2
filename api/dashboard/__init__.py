"""The risk dashboard (风险看板): what needs attention, per branch, manager and risk grade."""
