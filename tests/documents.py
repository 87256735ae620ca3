"""Reading a generated document back: its text (pypdf), without the spaces and line breaks layout adds."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-"), "not a PDF"
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in reader.pages))


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)
