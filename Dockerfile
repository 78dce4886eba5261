# The monitor's image: `ai-usage-monitor serve` on port 10090 with its data under /data.
# Built from this repository's own files only (.dockerignore keeps everything else out):
#   docker build -t ai-usage-monitor .      (docker-compose.yml builds it for you)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY ai_usage_monitor ./ai_usage_monitor
# The openai and dashscope SDKs are for `ai-usage-monitor demo`, whose traffic goes through them; the
# ClickHouse driver for `ship` and `store = "clickhouse://…"` (the compose profile `clickhouse`);
# tzdata gives zoneinfo the IANA time zones (AI_USAGE_TIMEZONE) whatever the base image ships.
RUN pip install ".[openai,dashscope,clickhouse]" tzdata \
    && useradd --create-home --uid 10001 monitor \
    && mkdir -p /data/records \
    && chown -R monitor /data

USER monitor
WORKDIR /data
ENV AI_USAGE_HOST=0.0.0.0 \
    AI_USAGE_PORT=10090 \
    AI_USAGE_RECORDS_DIR=/data/records
VOLUME ["/data"]
EXPOSE 10090

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:10090/health', timeout=4)"]

ENTRYPOINT ["ai-usage-monitor"]
CMD ["serve"]
