# One image for every process: the first argument picks it.
#   docker run IMAGE edge --workers 4 --host 0.0.0.0 --forwarded-allow-ips=10.0.0.0/8
#   docker run IMAGE admin --host 0.0.0.0
#   docker run IMAGE loader --name loader-1 --host 0.0.0.0
#   docker run IMAGE migrate            (add --cluster NAME once the CLI has it)
# Configuration comes from the environment at run time (ops/env.example); nothing secret is baked in.
#
# Build:  docker build -t sms-click-tracker .
#         docker build --build-arg WITH_CHDB=1 -t sms-click-tracker:embedded .   (adds chDB, for `tracker dev`)

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: wheels for every pinned dependency, installed into a venv that is copied whole ---------------
FROM ${PYTHON_IMAGE} AS builder

# chDB (the embedded ClickHouse, ~0.6 GB with pandas and pyarrow) serves only `tracker dev`; the server
# processes talk to a ClickHouse server over HTTP, so it is left out unless asked for.
ARG WITH_CHDB=0
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Compilers for a dependency without a binary wheel on this platform; they stay in this stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY pyproject.toml ./
# The pinned dependency list is read from pyproject.toml, so it lives in one place.
RUN python -c "import os, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
keep = [d for d in deps if os.environ['WITH_CHDB'] == '1' or d.split('==')[0].strip().lower() != 'chdb']; \
print('\n'.join(keep))" > requirements.txt \
    && pip wheel --wheel-dir /wheels -r requirements.txt \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-index --find-links /wheels -r requirements.txt

# The code runs from /app (PYTHONPATH), not from site-packages; the schema files are package data under
# tracker/clickhouse/schema/, so they come with `COPY tracker`. This launcher is the `tracker` command.
# The __main__ guard matters: `edge --workers N` spawns workers, and spawn re-imports the main script.
RUN printf '%s\n' '#!/opt/venv/bin/python' 'import sys' 'from tracker.cli import main' \
        'if __name__ == "__main__":' '    sys.exit(main())' > /opt/venv/bin/tracker \
    && chmod 0755 /opt/venv/bin/tracker

# --- runtime: the venv and the code (schema, templates and static files included); no compilers, no pip cache, no secrets --------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="sms-click-tracker" \
      org.opencontainers.image.description="Edge redirect and click-to-revenue tracker for SMS marketing" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/opt/venv/bin:$PATH

# /var/lib/tracker/spill: the edge's spill log (TRACKER_SPILL_DIR), the one folder the app writes; mount a volume.
RUN groupadd --system --gid 10001 tracker \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin tracker \
    && mkdir -p /var/lib/tracker/spill && chown 10001:10001 /var/lib/tracker/spill
ENV TRACKER_SPILL_DIR=/var/lib/tracker/spill

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY pyproject.toml ./
COPY shortlinks ./shortlinks
COPY tracker ./tracker
# Bytecode compiled now, as root: the code stays read-only to the app user, and workers start without compiling.
RUN python -m compileall -q /app/shortlinks /app/tracker

USER 10001:10001
EXPOSE 8080 8081 8082

# /healthz of whichever process this container runs, found from its command line (PID 1, or the init's child):
# edge 8080, admin 8081, loader 8082. HEALTHCHECK_PORT overrides it (a non-default --port); 0 means "no HTTP,
# healthy while running" (loader --port 0). migrate serves nothing and is healthy until it exits. No proxy:
# an HTTP_PROXY in the environment must not catch a request to the container itself.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; d = {'edge': '8080', 'admin': '8081', 'loader': '8082'}; a = open('/proc/1/cmdline').read().split(chr(0)); p = os.environ.get('HEALTHCHECK_PORT') or next((d[x] for x in a if x in d), '0'); p == '0' or u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:' + p + '/healthz', timeout=2)"]

ENTRYPOINT ["tracker"]
CMD ["--help"]
