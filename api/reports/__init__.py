"""The inspection report (贷后检查报告): the whole record of a visit as a PDF a credit committee reads."""
