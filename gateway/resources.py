"""Where the shipped data folders are: templates/ and schemas/ (repo) or gateway/_data/ (wheel).

pyproject.toml force-includes the repository's top-level folders into the wheel
under gateway/_data/, so an installed gateway and a checkout find the same files.
"""

from __future__ import annotations

from pathlib import Path

_GATEWAY = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for candidate in (_GATEWAY / "_data" / name, _GATEWAY.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"{name}/ not found in {_GATEWAY / '_data'} or {_GATEWAY.parent}: broken installation"
    )
