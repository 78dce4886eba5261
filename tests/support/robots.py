"""Local stand-ins for the chat robots, verifying what the real services verify.

DingTalk and Feishu recompute the signature from the shared secret as their documentation defines it
(written here independently of the monitor's code) and, like the real services, answer HTTP 200 with an
error code when it is wrong or the timestamp is more than an hour off. WeCom, Slack and the generic
webhook check the body's shape. A receiver can also hang (accept, never answer) until it is stopped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

__all__ = ["RobotKind", "RobotReceiver", "robot_receiver"]

RobotKind = Literal["dingtalk", "feishu", "wecom", "slack", "webhook"]
_HOUR = 3600


def _dingtalk_expected(timestamp: str, secret: str) -> str:
    # DingTalk: string_to_sign = timestamp (ms) + "\n" + secret; HmacSHA256 keyed by the secret; base64
    mac = hmac.new(secret.encode("utf-8"), (timestamp + "\n" + secret).encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def _feishu_expected(timestamp: str, secret: str) -> str:
    # Feishu: timestamp (s) + "\n" + secret is the HmacSHA256 key; the message is empty; base64
    mac = hmac.new((timestamp + "\n" + secret).encode("utf-8"), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


@dataclass
class RobotReceiver:
    """What one robot received; ``accepted`` bodies passed every check, ``answers`` is every reply sent."""

    kind: RobotKind
    secret: str | None = None
    port: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[int, Any]] = field(default_factory=list)
    requests: int = 0
    hang: bool = False
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        paths = {
            "dingtalk": "/robot/send?access_token=test-token",
            "feishu": "/open-apis/bot/v2/hook/test-hook",
            "wecom": "/cgi-bin/webhook/send?key=test-key",
            "slack": "/services/T000/B000/XXXX",
            "webhook": "/hooks/ai-usage",
        }
        return f"http://127.0.0.1:{self.port}{paths[self.kind]}"

    def check(self, path: str, body: Any) -> tuple[int, Any]:
        """The real service's answer to ``body`` posted to ``path``."""
        return getattr(self, f"_check_{self.kind}")(path, body)

    def _check_dingtalk(self, path: str, body: Any) -> tuple[int, Any]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        if self.secret is not None:
            timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
            if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > _HOUR * 1000:
                return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
            if not hmac.compare_digest(sign, _dingtalk_expected(timestamp, self.secret)):
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
        markdown = body.get("markdown") if isinstance(body, dict) else None
        if body.get("msgtype") != "markdown" or not isinstance(markdown, dict):
            return 200, {"errcode": 40035, "errmsg": "缺少参数 json"}
        if not markdown.get("title") or not markdown.get("text"):
            return 200, {"errcode": 40035, "errmsg": "缺少参数 markdown.title/text"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _check_feishu(self, path: str, body: Any) -> tuple[int, Any]:
        if self.secret is not None:
            timestamp, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
            fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= _HOUR
            if not fresh or not hmac.compare_digest(sign, _feishu_expected(timestamp, self.secret)):
                message = "sign match fail or timestamp is not within one hour from current time"
                return 200, {"code": 19021, "msg": message, "data": {}}
        card = body.get("card")
        if body.get("msg_type") != "interactive" or not isinstance(card, dict):
            return 200, {"code": 9499, "msg": "Bad Request", "data": {}}
        if not card.get("header", {}).get("title", {}).get("content") or not card.get("elements"):
            return 200, {"code": 11246, "msg": "create card content failed", "data": {}}
        return 200, {"code": 0, "msg": "success", "data": {}}

    def _check_wecom(self, path: str, body: Any) -> tuple[int, Any]:
        content = body.get("markdown", {}).get("content") if body.get("msgtype") == "markdown" else None
        if not content:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if len(content.encode("utf-8")) > 4096:
            return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _check_slack(self, path: str, body: Any) -> tuple[int, Any]:
        if not body.get("text") and not body.get("blocks"):
            return 400, "no_text"
        for block in body.get("blocks", []):
            if block.get("type") not in ("header", "section") or not block.get("text", {}).get("text"):
                return 400, "invalid_blocks"
        return 200, "ok"

    def _check_webhook(self, path: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not body.get("key") or not body.get("title"):
            return 400, {"error": "expected a JSON object with key and title"}
        return 200, {"ok": True}


def _handler(robot: RobotReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with robot.lock:
                robot.requests += 1
            if robot.hang:
                robot.released.wait()
                return
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                status, answer = 400, "invalid JSON"
            else:
                status, answer = robot.check(self.path, body)
                if status == 200 and (answer in ("ok", {"ok": True}) or _zero(answer)):
                    with robot.lock:
                        robot.accepted.append(
                            {"path": self.path, "headers": dict(self.headers), "body": body}
                        )
            with robot.lock:
                robot.answers.append((status, answer))
            payload = (answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(answer, str) else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _zero(answer: Any) -> bool:
    return isinstance(answer, dict) and (answer.get("errcode") == 0 or answer.get("code") == 0)


@contextmanager
def robot_receiver(
    kind: RobotKind, secret: str | None = None, *, port: int = 0, hang: bool = False
) -> Iterator[RobotReceiver]:
    """A running receiver on 127.0.0.1 (``port`` 0: a free one) until the block ends."""
    robot = RobotReceiver(kind, secret, hang=hang)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(robot))
    server.daemon_threads = True
    robot.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield robot
    finally:
        robot.released.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
