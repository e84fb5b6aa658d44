"""pytest fixtures for the PDF tests; test modules import the ones they use."""

from __future__ import annotations

import pytest

from .documents import PdfSpec, make_pdf
from .pki import Pki, make_pki
from .signed import sender_signed


@pytest.fixture(scope="session")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="session")
def sender_signed_pdf(pki: Pki) -> bytes:
    """A letter as a sender's e-saraban system signs it (PAdES, invisible)."""
    return sender_signed(make_pdf(PdfSpec()), pki)
