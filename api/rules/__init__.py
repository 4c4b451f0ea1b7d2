"""The discrepancy engine: what was observed held against what was declared, rule by rule."""
