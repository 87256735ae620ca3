"""What an uploaded file is, from its bytes (never its name), and whether it may be kept.

Accepted: images (JPEG, PNG, GIF, WebP), PDF, office documents (Word/Excel/PowerPoint in the OOXML zip form,
and the old OLE2 .doc/.xls), plain text in UTF-8. Refused: everything else — executables above all, however
they are named — and archives that would expand far beyond their size (zip bombs). File names are shown to
people and written into download headers: a name with a path separator or a control character is refused, the
rest is normalised (NFC) and shortened.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from dataclasses import dataclass

#: the kinds of evidence a worker brings (labels: events.glossary ATTACHMENT_KIND)
KINDS = ("contract", "payslip", "attendance", "chat", "photo", "medical", "other")
EXECUTABLE = (b"MZ", b"\x7fELF", b"#!", b"\xfe\xed\xfa", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe",
              b"dex\n", b"\x00asm")
ZIP_MAX_ENTRIES = 2000
ZIP_MAX_RATIO = 100
ZIP_MAX_EXPANDED = 200 * 1024 * 1024
NAME_MAX = 120


class Refused(ValueError):
    """A file that is not kept, with the reason people read (Chinese)."""

    def __init__(self, reason: str, field: str = "file"):
        super().__init__(reason)
        self.reason, self.field = reason, field


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    extension: str


def sniff(content: bytes) -> Sniffed:
    """The type of ``content`` from its first bytes and, for zips, its directory; Refused when not allowed."""
    head = content[:16]
    if not content:
        raise Refused("文件是空的")
    if head.startswith(EXECUTABLE):
        raise Refused("不接受可执行文件或脚本（无论文件名是什么）")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image/jpeg", ".jpg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image/png", ".png")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Sniffed("image/gif", ".gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image/webp", ".webp")
    if head.startswith(b"%PDF-"):
        return Sniffed("application/pdf", ".pdf")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return Sniffed("application/x-ole-storage", ".doc")  # Word 97–2003 / Excel 97–2003
    if head.startswith(b"PK\x03\x04"):
        return _office(content)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("无法识别的文件类型：请上传图片、PDF、Word/Excel 文档或文本文件") from None
    if "\x00" in text:
        raise Refused("无法识别的文件类型：请上传图片、PDF、Word/Excel 文档或文本文件")
    return Sniffed("text/plain; charset=utf-8", ".txt")


def _office(content: bytes) -> Sniffed:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise Refused("压缩文件已损坏") from None
    if len(entries) > ZIP_MAX_ENTRIES:
        raise Refused("文件内含条目过多，疑似压缩炸弹，已拒收")
    expanded = sum(e.file_size for e in entries)
    if expanded > ZIP_MAX_EXPANDED or expanded > ZIP_MAX_RATIO * max(len(content), 1):
        raise Refused("文件解压后体积异常（疑似压缩炸弹），已拒收")
    names = {e.filename for e in entries}
    if any(n.lower().endswith((".exe", ".dll", ".js", ".vbs", ".bat", ".cmd", ".ps1", ".sh")) for n in names):
        raise Refused("文件内含可执行程序，已拒收")
    if "[Content_Types].xml" in names:
        if any(n.startswith("word/") for n in names):
            return Sniffed("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx")
        if any(n.startswith("xl/") for n in names):
            return Sniffed("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx")
        if any(n.startswith("ppt/") for n in names):
            return Sniffed("application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx")
    raise Refused("不接受压缩包：请上传图片、PDF 或 Word/Excel 文档本身")


def clean_name(name: str | None, sniffed: Sniffed) -> str:
    """The file's name as people will see it; Refused for path separators and control characters."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        return "附件" + sniffed.extension
    if any(c in name for c in "/\\") or name in (".", ".."):
        raise Refused("文件名不能包含路径（/ 或 \\）", field="file")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") for c in name):
        raise Refused("文件名含有控制字符", field="file")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:10]
    stem = stem[: NAME_MAX - len(ext) - 1]
    return f"{stem}.{ext}" if ext else stem
