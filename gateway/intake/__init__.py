"""Intake adapters: the ways a message reaches the gateway (SMTP listener, IMAP watcher, CLI)."""
