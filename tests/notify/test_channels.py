"""Each channel delivers a correctly signed / shaped message to a receiver that checks what the real service
checks; a wrong secret or a stale timestamp is a failed delivery carrying the receiver's error."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from ai_usage_monitor.notify import DeliveryError, Message, build_channel
from ai_usage_monitor.notify.channel_config import validate_channels
from ai_usage_monitor.notify.channels.dingtalk import DingTalkChannel
from ai_usage_monitor.notify.channels.feishu import FeishuChannel
from ai_usage_monitor.notify.channels.http import post_json, require_zero_code
from tests.support.processes import free_port
from tests.support.robots import RobotKind, robot_receiver

SECRET = "SECb3a1f0c2d4e5f60718293a4b5c6d7e8f9"

MESSAGE = Message(
    key="budget:daily-total:2026-12-07:0.8",
    title="预算「每日总额」已用 80%",
    body="函数 `实时分析` 花费最多。",
    budget="daily-total",
    scope_value="实时分析",
    spent=40.25,
    limit=50.0,
    period="2026-12-07",
    forecast=61.0,
    link="http://127.0.0.1:10090/",
)


def _channel(kind: str, url: str, **fields: Any) -> Any:
    return build_channel("ops", validate_channels({"ops": {"type": kind, "url": url, **fields}})["ops"])


@pytest.mark.parametrize(
    ("kind", "secret"),
    [
        ("dingtalk", SECRET),
        ("dingtalk", None),
        ("feishu", "feishu-secret-Xy12"),
        ("feishu", None),
        ("wecom", None),
        ("slack", None),
        ("webhook", None),
    ],
)
def test_channel_delivers_what_the_receiver_accepts(kind: RobotKind, secret: str | None) -> None:
    with robot_receiver(kind, secret) as robot:
        fields = {"secret": secret} if secret else {}
        _channel(kind, robot.url, **fields).send(MESSAGE, timeout=5)
    assert len(robot.accepted) == 1, robot.answers
    sent = str(robot.accepted[0]["body"])
    for fact in ("预算「每日总额」已用 80%", "实时分析", "40.25", "50.00"):
        assert fact in sent


@pytest.mark.parametrize(("kind", "code_key"), [("dingtalk", "errcode"), ("feishu", "code")])
def test_wrong_secret_is_a_failed_delivery_with_the_robots_error(kind: RobotKind, code_key: str) -> None:
    with robot_receiver(kind, SECRET) as robot:
        channel = _channel(kind, robot.url, secret=SECRET + "x")
        with pytest.raises(DeliveryError) as failure:
            channel.send(MESSAGE, timeout=5)
    status, answer = robot.answers[0]
    assert status == 200 and answer[code_key] != 0 and not robot.accepted
    assert str(answer[code_key]) in str(failure.value)
    assert str(answer.get("errmsg") or answer.get("msg")) in str(failure.value)


def test_dingtalk_timestamp_more_than_an_hour_off_is_refused() -> None:
    with robot_receiver("dingtalk", SECRET) as robot:
        channel = _channel("dingtalk", robot.url, secret=SECRET)
        assert isinstance(channel, DingTalkChannel)
        stale = channel.signed_url(now=1_700_000_000.0)
        fresh_body = channel.payload(MESSAGE)
        _, body = post_json(stale, fresh_body, timeout=5)
        with pytest.raises(DeliveryError, match="310000"):
            require_zero_code(body, ("errcode",), ("errmsg",))
    assert not robot.accepted


def test_feishu_timestamp_more_than_an_hour_off_is_refused() -> None:
    with robot_receiver("feishu", "feishu-secret") as robot:
        channel = _channel("feishu", robot.url, secret="feishu-secret")
        assert isinstance(channel, FeishuChannel)
        _, body = post_json(robot.url, channel.payload(MESSAGE, now=1_700_000_000.0), timeout=5)
        with pytest.raises(DeliveryError, match="19021"):
            require_zero_code(body, ("code", "StatusCode"), ("msg", "StatusMessage"))
    assert not robot.accepted


def test_http_error_and_refused_connection_are_failed_deliveries() -> None:
    with robot_receiver("slack") as robot:
        url = robot.url
        with pytest.raises(DeliveryError, match="HTTP 400: no_text"):
            post_json(url, {"unfurl_links": False}, timeout=5)
    with pytest.raises(DeliveryError, match="ConnectionRefusedError"):
        _channel("slack", url).send(MESSAGE, timeout=2)


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_email_sends_text_and_html_parts(smtp_inbox: tuple[_Inbox, int]) -> None:
    inbox, port = smtp_inbox
    config = {
        "type": "email",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "starttls": False,
        "from": "monitor@example.com",
        "to": ["ops@example.com", "财务@example.com"],
    }
    channel = build_channel("mail", validate_channels({"mail": config})["mail"])
    channel.send(MESSAGE, timeout=5)
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert inbox.envelopes[0].rcpt_tos == ["ops@example.com", "财务@example.com"]
    assert mail["Subject"] == MESSAGE.title
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "实时分析" in text.get_content() and "¥40.25" in text.get_content()
    assert "<table>" in html.get_content() and 'href="http://127.0.0.1:10090/"' in html.get_content()


def test_email_to_a_closed_port_is_a_failed_delivery() -> None:
    config = {
        "type": "email",
        "smtp_host": "127.0.0.1",
        "smtp_port": free_port(),
        "from": "a@b.c",
        "to": ["d@e.f"],
    }
    channel = build_channel("mail", validate_channels({"mail": config})["mail"])
    with pytest.raises(DeliveryError, match="ConnectionRefused"):
        channel.send(MESSAGE, timeout=2)


def test_log_channel_writes_one_record(caplog: pytest.LogCaptureFixture) -> None:
    channel = build_channel("audit", validate_channels({"audit": {"type": "log", "level": "ERROR"}})["audit"])
    with caplog.at_level("ERROR", logger="ai_usage_monitor.notify"):
        channel.send(MESSAGE, timeout=1)
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "[audit]" in caplog.text and "预算「每日总额」已用 80%" in caplog.text


def test_english_message_labels() -> None:
    english = Message(key="k", title="Budget at 80%", language="en", spent=1.5, limit=2.0, currency="USD")
    assert english.facts() == [("Spent", "$1.50"), ("Limit", "$2.00")]
    assert MESSAGE.facts()[0] == ("预算", "daily-total")


def test_wecom_content_is_cut_to_the_robots_4096_bytes() -> None:
    long = Message(key="long", title="告警", body="实时分析超限。" * 600)
    with robot_receiver("wecom") as robot:
        _channel("wecom", robot.url).send(long, timeout=5)
    [accepted] = robot.accepted
    content = accepted["body"]["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096 and content.endswith("…")
