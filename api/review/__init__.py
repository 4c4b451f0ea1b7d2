"""Back-office review: the queue, approve or return (four-eyes)."""
