# The hub's production image: `hub run` as an unprivileged user.
#
# Data (SQLite journal when no database URL is set, blobs, outboxes, the
# generated admin token) lives under /var/lib/hub: mount a volume there. The
# default route set is baked in at /etc/hub/routes; mount your own over it.
# /etc/hub/hub.yaml is the repository's hub.yaml (destinations of the default
# routes: file drops under /var/lib/hub/outbox); mount your own over it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml ./
COPY hub ./hub
COPY connectors ./connectors
COPY mappings ./mappings
COPY identity ./identity
RUN pip install . && rm -rf /src

COPY routes /etc/hub/routes
COPY hub.yaml /etc/hub/hub.yaml
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/hub \
        --shell /usr/sbin/nologin hub \
    && mkdir -p /var/lib/hub \
    && chown hub:hub /var/lib/hub

ENV HUB_CONFIG=/etc/hub/hub.yaml \
    HUB_DATA_DIR=/var/lib/hub \
    HUB_ROUTES_DIR=/etc/hub/routes \
    HUB_MLLP_HOST=0.0.0.0 \
    HUB_HTTP_HOST=0.0.0.0

USER hub
WORKDIR /var/lib/hub
VOLUME ["/var/lib/hub"]
EXPOSE 2575 8080

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8080/healthz', timeout=4)"]

CMD ["hub", "run"]
