"""Running unattended: structured logs, the health endpoint (/metrics, /healthz) and the
alarm's second channel (a command, a webhook). Nothing here decides about letters; it only
shows what the rest of the gateway is doing and speaks up when it stops."""
