"""Effects: what registration and sending do to the world once a decision is recorded.

Each effect is idempotent: `stamp` draws the receive stamp on a copy of a
registered letter, `sign` signs outgoing letters, `compose` fills the mail
templates, `send` delivers the outbox to the relay or the outbox folder.
"""
