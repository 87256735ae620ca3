"""The documents panel macro (services/web/templates/documents.html) in words people read: titles of documents,
attachment kinds in Chinese, sizes and times — no codes, ids or Python values; the upload form only when allowed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from services.printing.panel import attachments_for, documents_for
from services.web.pages import Pages

PAGES = Pages(Path(__file__).parent)  # the shared templates come with every Pages


def panel(documents, attachments, can_upload) -> str:
    template = PAGES.templates.env.from_string('{% import "documents.html" as docs %}'
                                     '{{ docs.documents_panel(case_id, documents, attachments, can_upload) }}')
    return template.render(case_id="LC20261203000123", documents=documents, attachments=attachments,
                           can_upload=can_upload)


def visible_text(html: str) -> str:
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html)


def test_the_panel_lists_documents_and_attachments_in_words():
    attachments = attachments_for([{"attachment_id": "7f1c", "case_id": "LC20261203000123", "kind": "payslip",
                                    "filename": "十月工资条.png", "size_bytes": 20480, "note": "",
                                    "uploaded_by": "clerk", "uploaded_by_name": "赵敏",
                                    "uploaded_at": datetime(2026, 12, 3, 6, 30, tzinfo=UTC)}])
    html = panel(documents_for("LC20261203000123", ["receipt", "agreement"]), attachments, True)
    text = visible_text(html)
    for words in ("受理回执", "调解协议书", "打印", "下载", "工资条/工资流水", "十月工资条.png", "20.0 KB",
                  "2026年12月3日 14:30", "赵敏", "上传"):
        assert words in text, words
    for code in ("payslip", "None", "False", "[]"):
        assert code not in text, code
    assert 'href="/api/v1/cases/LC20261203000123/documents/agreement.pdf"' in html
    assert 'enctype="multipart/form-data"' in html


def test_without_the_right_to_upload_there_is_no_form_and_nothing_to_print_is_said_plainly():
    html = panel([], None, False)
    assert "<form" not in html and "本案目前没有可打印的文书" in html and 'data-load="yes"' in html
