"""The local SMTP inbox of the notification tests, for the digest sent by e-mail."""

from __future__ import annotations

from tests.notify.test_channels import smtp_inbox

__all__ = ["smtp_inbox"]
