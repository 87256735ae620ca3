"""Notification's pure rules: quiet hours, templates, retries."""
