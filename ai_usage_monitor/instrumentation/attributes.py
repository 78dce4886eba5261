"""Span attribute names (OpenTelemetry GenAI semantic conventions + the monitor's own), in one place."""

from __future__ import annotations

__all__ = [
    "AI_USAGE_ANCHOR_ID",
    "AI_USAGE_COST",
    "AI_USAGE_CURRENCY",
    "AI_USAGE_FUNCTION",
    "AI_USAGE_SESSION_ID",
    "AI_USAGE_USER_ID",
    "ERROR_TYPE",
    "GEN_AI_AGENT_ID",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_REQUEST_STREAM",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_ID",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS",
    "GEN_AI_USAGE_COST_AMOUNT",
    "GEN_AI_USAGE_COST_CURRENCY",
    "GEN_AI_USAGE_COST_SOURCE",
    "GEN_AI_USAGE_COST_SOURCE_LOCAL",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS",
    "SERVER_ADDRESS",
    "SERVER_PORT",
]

GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# Proposed, not yet in the GenAI semantic conventions (open-telemetry/semantic-conventions-genai PR #443):
# emitted only with the ``otel_cost_attributes`` setting until the proposal is merged.
GEN_AI_USAGE_COST_AMOUNT = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY = "gen_ai.usage.cost.currency"
#: ``provider`` when the cost came in the response, ``local`` when computed by the recorder (always ours)
GEN_AI_USAGE_COST_SOURCE = "gen_ai.usage.cost.source"
GEN_AI_USAGE_COST_SOURCE_LOCAL = "local"

AI_USAGE_COST = "ai_usage.cost"
AI_USAGE_CURRENCY = "ai_usage.currency"
AI_USAGE_FUNCTION = "ai_usage.function"
AI_USAGE_USER_ID = "ai_usage.user_id"
AI_USAGE_ANCHOR_ID = "ai_usage.anchor_id"
AI_USAGE_SESSION_ID = "ai_usage.session_id"
