"""E-mail over SMTP with the standard library: a text part and a simple HTML part."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from ai_usage_monitor.notify.channel_config import EmailConfig
from ai_usage_monitor.notify.channels.base import DeliveryError
from ai_usage_monitor.notify.message import Message

__all__ = ["EmailChannel"]


@dataclass(frozen=True, slots=True)
class EmailChannel:
    name: str
    config: EmailConfig

    def compose(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.title
        mail["From"] = self.config.sender
        mail["To"] = ", ".join(self.config.to)
        mail.set_content(message.text())
        mail.add_alternative(message.html(), subtype="html")
        return mail

    def send(self, message: Message, timeout: float) -> None:
        config = self.config
        try:
            smtp: smtplib.SMTP = (
                smtplib.SMTP_SSL(config.smtp_host, config.smtp_port, timeout=timeout)
                if config.ssl
                else smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout)
            )
            with smtp:
                if config.starttls and not config.ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if config.username:
                    smtp.login(config.username, config.password or "")
                smtp.send_message(self.compose(message))
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
