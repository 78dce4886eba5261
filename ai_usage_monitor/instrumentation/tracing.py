"""Optional: a TracerProvider exporting spans over OTLP/HTTP, for apps that have none configured."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.trace import TracerProvider

__all__ = ["otlp_tracer_provider"]


def otlp_tracer_provider(endpoint: str | None, service_name: str | None = None) -> TracerProvider | None:
    """Set up (once) a global SDK TracerProvider sending to ``endpoint`` (or ``OTEL_EXPORTER_OTLP_ENDPOINT``).

    Returns ``None`` when no endpoint is given. An app that already configured an SDK provider keeps it.
    """
    endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise RuntimeError(
            "OTLP export needs the 'otlp' extra: pip install 'ai-usage-monitor[otlp]'"
        ) from exc
    current = trace.get_tracer_provider()
    if isinstance(current, SdkTracerProvider):
        return current
    traces_url = endpoint.rstrip("/")
    if not traces_url.endswith("/v1/traces"):
        traces_url += "/v1/traces"
    provider = SdkTracerProvider(
        resource=Resource.create(
            {"service.name": service_name or os.environ.get("OTEL_SERVICE_NAME", "ai-app")}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    trace.set_tracer_provider(provider)
    return provider
