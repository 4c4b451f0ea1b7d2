"""The borrower contact log (沟通记录): meetings, calls and messages, and the commitments they bring."""
