"""Attachments (证据材料): what a file is, decided from its content; hostile files refused. Pure."""
