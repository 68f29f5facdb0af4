# FieldCheck gateway image: uv-based, runs as a non-root user, data in /data.
FROM python:3.11-slim

RUN pip install --no-cache-dir uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 fieldcheck && mkdir -p /data /app \
    && chown fieldcheck:fieldcheck /data /app

WORKDIR /app
COPY --chown=fieldcheck:fieldcheck pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY --chown=fieldcheck:fieldcheck gateway ./gateway
COPY --chown=fieldcheck:fieldcheck matchers ./matchers
COPY --chown=fieldcheck:fieldcheck device_adapters ./device_adapters
COPY --chown=fieldcheck:fieldcheck simulator ./simulator
RUN uv sync --frozen --no-dev

USER fieldcheck
ENV FIELDCHECK_DATA_DIR=/data PATH="/app/.venv/bin:$PATH"
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# 0.0.0.0 on purpose: inside the container, 127.0.0.1 would be unreachable through the published
# port. It binds every interface *of the container*; what reaches it is decided where the port is
# published: `docker run -p 127.0.0.1:8000:8000 ...` keeps it on the host's loopback, and a
# TLS-terminating reverse proxy should front it on a network. FIELDCHECK_ADMIN_TOKEN and the
# snapshot keys must be strong or the gateway refuses to start (`fieldcheck keygen`).
CMD ["fieldcheck", "serve", "--host", "0.0.0.0", "--port", "8000"]
