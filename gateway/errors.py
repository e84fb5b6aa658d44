"""One exception tree for the whole gateway (architecture.md, house style 5).

Adapters translate library errors into these at the boundary. `Transient` means
"try again later" (network down, database busy); `Permanent` means retrying will
not help (bad input, refused by policy).  `UserError` is a permanent error caused
by what an operator typed or configured: the command line prints its Thai and
English message and exits non-zero without a traceback.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class Transient(GatewayError):
    """A failure that may go away if the same step is tried again later."""


class Uncertain(GatewayError):
    """A step that may or may not have taken effect (the end of DATA was sent and no answer came):
    neither retried nor given up silently, but left for a person to decide."""


class Permanent(GatewayError):
    """A failure that will not go away by retrying the same step."""


class UserError(Permanent):
    """Bad operator input or configuration: reported in Thai and English, changes nothing."""

    def __init__(self, message_th: str, message_en: str) -> None:
        super().__init__(f"{message_th} ({message_en})")
        self.message_th = message_th
        self.message_en = message_en

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # crosses from worker processes
        return type(self), (self.message_th, self.message_en)


class ConfigError(UserError):
    """config.toml is missing, unreadable or invalid; names the key at fault."""


class IllegalTransition(GatewayError):
    """A letter state change the table in gateway/state.py does not allow: a bug or a lost
    race, never a normal outcome."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"a letter in state {state!r} cannot take event {event!r}")
        self.state, self.event = state, event

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return type(self), (self.state, self.event)
