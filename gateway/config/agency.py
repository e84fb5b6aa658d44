"""The agency in the settings: its names and codes, its register books, its units, its directory."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from gateway.config.model import ConfigModel, Email

__all__ = ["BOOK_CODES", "Agency", "BookStart", "Books", "Directory", "Unit"]

BOOK_CODES: tuple[str, ...] = ("receive", "send", "circular", "order")
"""The agency-level register books of the regulation (domain.md §3)."""


class Agency(ConfigModel):
    name_th: str = Field(min_length=1)
    letter_code: str = Field(min_length=1, description="Thai letter code, e.g. 'ศธ 04183'")
    latin_code: str = Field(min_length=1, description="ASCII code for file names, e.g. 'OBEC04183'")
    central_addresses: tuple[Email, ...] = Field(min_length=1)
    unit_name_th: str = ""
    contact: str = ""
    thai_digits: bool = Field(
        default=True, description="write Thai digits in letters, the receive stamp and reports"
    )

    @field_validator("latin_code")
    @classmethod
    def _latin(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", v):
            raise ValueError(
                "ต้องเป็นอักษรละตินหรือตัวเลขเท่านั้น ใช้ตั้งชื่อไฟล์ "
                f"(only Latin letters and digits, it is used in file names): {v!r}"
            )
        return v

    @field_validator("letter_code")
    @classmethod
    def _thai_code(cls, v: str) -> str:
        if not re.search(r"[\u0E01-\u0E2E]", v):
            raise ValueError(
                f"ต้องมีรหัสพยัญชนะไทย เช่น 'ศธ 04183' (must hold a Thai code such as 'ศธ 04183'): {v!r}"
            )
        return v


class BookStart(ConfigModel):
    book: str
    year: int = Field(ge=2400, le=2800, description="Buddhist-era year")
    first_number: int = Field(ge=1)

    @field_validator("book")
    @classmethod
    def _book(cls, v: str) -> str:
        if v not in BOOK_CODES:
            raise ValueError(
                f"ไม่รู้จักทะเบียน {v!r} ต้องเป็นหนึ่งใน {', '.join(BOOK_CODES)} "
                f"(unknown book {v!r}; one of {', '.join(BOOK_CODES)})"
            )
        return v


class Books(ConfigModel):
    start: tuple[BookStart, ...] = ()
    reservation_days: int = Field(default=30, ge=1, description="unused reservations expire")

    @model_validator(mode="after")
    def _unique(self) -> Books:
        seen: set[tuple[str, int]] = set()
        for s in self.start:
            if (s.book, s.year) in seen:
                raise ValueError(
                    f"กำหนดเลขเริ่มต้นซ้ำ {s.book} {s.year} (start number given twice)"
                )
            seen.add((s.book, s.year))
        return self

    def first_number(self, book: str, year: int) -> int:
        for s in self.start:
            if s.book == book and s.year == year:
                return s.first_number
        return 1


class Unit(ConfigModel):
    code: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name_th: str = Field(min_length=1)
    emails: tuple[Email, ...] = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    own_register: bool = False
    parent: str = ""


class Directory(ConfigModel):
    file: Path | None = None
