"""Follow-up tasks (跟进/整改任务): every discrepancy that matters gets an owner and a due date."""
