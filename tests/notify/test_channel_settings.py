"""``[channels.*]``, ``alert_channels`` and ``notify_language`` in the settings TOML: good tables load, a bad
one is refused at start with one line naming the channel and the field, without echoing URL or secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_usage_monitor.config import Settings, SettingsError
from ai_usage_monitor.notify.channel_config import DingTalkConfig, EmailConfig

TOKEN = "0123456789abcdef-access-token"

GOOD = f"""
alert_channels = ["ops", "邮件"]
notify_language = "en"

[channels.ops]
type = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"
secret = "SECabcdef"

[channels."邮件"]
type = "email"
smtp_host = "smtp.example.com"
from = "monitor@example.com"
to = ["ops@example.com"]
"""


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Settings:
    config = tmp_path / "settings.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("AI_USAGE_CONFIG", str(config))
    return Settings()


def test_channels_load_from_the_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _load(tmp_path, monkeypatch, GOOD)
    assert (
        isinstance(settings.channels["ops"], DingTalkConfig)
        and settings.channels["ops"].secret == "SECabcdef"
    )
    mail = settings.channels["邮件"]
    assert isinstance(mail, EmailConfig) and mail.sender == "monitor@example.com" and mail.smtp_port == 587
    assert settings.alert_channels == ["ops", "邮件"] and settings.notify_language == "en"


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('type = "pager"\nurl = "https://example.com/x"', "field 'type': must be one of dingtalk"),
        ('type = "dingtalk"', "field 'url': field required"),
        (
            f'type = "dingtalk"\nurl = "oapi.dingtalk.com/robot/send?access_token={TOKEN}"',
            "field 'url': must be an http",
        ),
        (
            f'type = "dingtalk"\nurl = "https://x.example/?access_token={TOKEN}"\nsecret = "not-a-sec"',
            "field 'secret': a DingTalk signing secret starts with 'SEC'",
        ),
        (
            f'type = "feishu"\nurl = "https://x.example/{TOKEN}"\nsecret = ""',
            "field 'secret': must be a non-empty",
        ),
        (
            f'type = "slack"\nurl = "https://x.example/{TOKEN}"\nsecret = "SECx"',
            "field 'secret': not a setting of a slack channel",
        ),
        (
            'type = "email"\nsmtp_host = "h"\nfrom = "a@b.c"\nto = []',
            "field 'to': list should have at least 1 item",
        ),
    ],
)
def test_a_bad_channel_is_one_line_naming_channel_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, named: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        _load(tmp_path, monkeypatch, f'[channels."值班"]\n{table}\n')
    line = str(refused.value)
    assert "\n" not in line
    assert "channel '值班', field" in line and named in line.replace("Field required", "field required")
    assert "settings.toml" in line
    assert TOKEN not in line


def test_alert_channels_must_name_configured_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SettingsError, match=r"alert_channels .*no channel named 'pager'"):
        _load(tmp_path, monkeypatch, 'alert_channels = ["pager"]\n[channels.ops]\ntype = "log"\n')


def test_notify_language_is_zh_or_en(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().notify_language == "zh"
    monkeypatch.setenv("AI_USAGE_NOTIFY_LANGUAGE", "fr")
    with pytest.raises(SettingsError, match="AI_USAGE_NOTIFY_LANGUAGE"):
        Settings()
