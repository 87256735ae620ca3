"""Printable documents (文书): template files rendered to PDF with an embedded Chinese font (docs/adr/0005)."""
