"""Field capture and sync: submissions, the manager's work package and the change feed."""
