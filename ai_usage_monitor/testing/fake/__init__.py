"""A local fake of the OpenAI, DashScope and Anthropic APIs, steered per request by ``[[fake ...]]``
directives."""

from __future__ import annotations

from ai_usage_monitor.testing.fake.scenario import Directive, DirectiveError, Plan, make_plan, parse_directive
from ai_usage_monitor.testing.fake.server import FakeProvider, RecordedRequest

__all__ = [
    "Directive",
    "DirectiveError",
    "FakeProvider",
    "Plan",
    "RecordedRequest",
    "make_plan",
    "parse_directive",
]
