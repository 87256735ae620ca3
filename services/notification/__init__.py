"""Notification (通知): the worker is told of each step of their case by SMS; staff get in-console notices."""
