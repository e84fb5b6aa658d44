"""The base of every part of the settings, and the checked types they share.

A check words what is wrong in Thai and English; `parse_settings` adds the key it was found at.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

__all__ = ["ConfigModel", "Email", "EnvVar"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class ConfigModel(BaseModel):
    """Frozen; an unknown key is an error; text is stripped."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"ไม่ใช่ที่อยู่อีเมล (not an e-mail address): {value!r}")
    return value.lower()


def _check_env_name(value: str) -> str:
    if value and not _ENV_NAME.match(value):
        raise ValueError(
            "ต้องเป็นชื่อตัวแปรสภาพแวดล้อม เช่น SARABAN_IMAP_PASSWORD "
            f"(must be an environment variable name such as SARABAN_IMAP_PASSWORD): {value!r}"
        )
    return value


EnvVar = Annotated[str, AfterValidator(_check_env_name)]
Email = Annotated[str, AfterValidator(_check_email)]
