"""The outgoing flow (a clerk's submission numbered, named, signed and mailed per
recipient), the outbox sender, bounces, and what comes back for letters we sent."""
