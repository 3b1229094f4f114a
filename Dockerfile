# provider-simulator as a container image (docs/container.md). Build with either engine:
#   docker build -t provider-sim .          podman build --format docker -t provider-sim .
# (podman's default OCI format drops HEALTHCHECK; --format docker keeps it.)
#
# BASE_IMAGE: any Debian-like image with Python 3.11+ as python3 and its venv module; the default is the official
# slim Python image. A company mirror (registry.example.com/python:3.11-slim) or a locally built base works too.
# Behind a TLS-intercepting proxy, hand pip the proxy's CA as a build secret (it never lands in a layer):
#   docker build --secret id=ca,src=company-ca.pem -t provider-sim .
# PIP_INDEX_URL: a package index other than PyPI (a company mirror); it is recorded in the image history.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG PIP_INDEX_URL=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/provider-sim
# Dependencies first, from pyproject.toml alone: this layer is reused until the dependencies change.
COPY pyproject.toml /src/
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    if [ -n "$PIP_INDEX_URL" ]; then export PIP_INDEX_URL; else unset PIP_INDEX_URL; fi; \
    python3 -c 'import tomllib; p = tomllib.load(open("/src/pyproject.toml", "rb"))["project"]; \
        extras = p["optional-dependencies"]; print("\n".join(p["dependencies"] + extras["postgres"] + extras["testing"]))' \
        > /src/requirements.txt \
    && /opt/provider-sim/bin/pip install -r /src/requirements.txt
COPY README.md /src/
COPY simulator /src/simulator
COPY schemas /src/schemas
COPY fixtures /src/fixtures
COPY scenarios /src/scenarios
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    if [ -n "$PIP_INDEX_URL" ]; then export PIP_INDEX_URL; else unset PIP_INDEX_URL; fi; \
    /opt/provider-sim/bin/pip install --no-deps /src \
    && /opt/provider-sim/bin/pip uninstall --yes setuptools pip

FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin sim \
    && mkdir /data && chown sim:sim /data
COPY --from=build /opt/provider-sim /opt/provider-sim
# Settings are environment variables (PROVIDER_SIM_*), not flags in CMD, so `-e PROVIDER_SIM_...` overrides each.
# WEBHOOK_HOSTS: the names under which a container reaches the developer's machine are valid webhook hosts.
# No ALLOWED_HOSTS: the control plane's own rule already answers to localhost:PORT from the host, IP addresses and
# the service names (no dot) other containers use; a dotted name is added with PROVIDER_SIM_ALLOWED_HOSTS
# (docs/container.md), so a page that rebinds its DNS name to the published port still gets nothing.
ENV PATH=/opt/provider-sim/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PROVIDER_SIM_HOST=0.0.0.0 \
    PROVIDER_SIM_PORT=8790 \
    PROVIDER_SIM_DB=/data/simulator.db \
    PROVIDER_SIM_WEBHOOK_HOSTS=host.docker.internal,host.containers.internal
USER sim
WORKDIR /data
VOLUME /data
EXPOSE 8790
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["provider-sim", "health"]
# provider-sim is PID 1: uvicorn handles SIGTERM (finishes requests in flight, closes the db) and no child
# processes are spawned, so no init process is needed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["provider-sim"]
CMD ["serve"]
