"""The incoming flow: read and examine a message, classify it, record it in one
transaction, then stamp it and file the clerk's copy; pipeline.py is the list of steps."""
