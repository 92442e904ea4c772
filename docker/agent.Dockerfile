# syntax=docker/dockerfile:1.7
#
# The agent, as an init-container image (default target) and the injection webhook (target
# "webhook"). Build from the repository root, one agent image per Python minor version:
#
#   docker build -f docker/agent.Dockerfile --build-arg PYTHON_VERSION=3.12 \
#     -t llm-instrument/agent:0.1.0-py3.12 .
#   docker build -f docker/agent.Dockerfile --target webhook -t llm-instrument/webhook:0.1.0 .
#
# The agent image holds /opt/llm-instrument/bootstrap (the sitecustomize) and
# /opt/llm-instrument/site (llm-instrument and its dependencies, `pip install --target`),
# which the injected init container copies into the pod's emptyDir. Only pure-Python wheels
# go in (checked below: no compiled extension), so it works whatever the application image's
# libc (glibc or musl/Alpine); the Python minor version is matched by the image tag, because
# the application's own interpreter runs this code. The OTLP exporter is HTTP/protobuf:
# grpcio is a compiled package and is left out on purpose.
#
# Reproducible: every dependency is pinned by version and hash (docker/agent-requirements.txt),
# busybox by version, Python by minor version and Debian release; for byte-identical
# rebuilds pass digests: --build-arg PYTHON_IMAGE=python:3.12-slim-bookworm@sha256:...

ARG PYTHON_VERSION=3.12
ARG PYTHON_IMAGE=python:${PYTHON_VERSION}-slim-bookworm
ARG BUSYBOX_IMAGE=busybox:1.37.0

FROM ${PYTHON_IMAGE} AS build
ARG PYTHON_VERSION
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY llm_instrument ./llm_instrument
COPY docker/agent-requirements.txt /tmp/agent-requirements.txt
# the project's own wheel, then the pinned pure-Python dependencies, into one --target tree
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip install --no-deps --require-hashes --only-binary=:all: \
      --target /out/site -r /tmp/agent-requirements.txt \
 && pip install --no-deps --target /out/site /wheels/llm_instrument-*.whl \
 && mkdir -p /out/bootstrap \
 && cp /out/site/llm_instrument/agent/bootstrap/sitecustomize.py /out/bootstrap/ \
 && rm -rf /out/site/bin \
 && if find /out -name '*.so' -o -name '*.pyd' | grep .; then \
      echo "compiled extension in the agent image: it would tie it to one libc" >&2; exit 1; fi \
 && python -m compileall -q -j 0 --invalidation-mode unchecked-hash /out/site /out/bootstrap \
 && chmod -R a+rX /out
# smoke test: the agent starts from the copied tree exactly as in a pod
RUN cd /tmp && PYTHONPATH=/out/bootstrap LLM_INSTRUMENT_AGENT_SITE=/out/site \
    LLM_INSTRUMENT_EXPORTER=none python -c \
    "import llm_instrument, sys; assert llm_instrument.__file__.startswith('/out/site'), llm_instrument.__file__"

# The injection webhook: the standard library and the llm_instrument package, nothing else.
FROM ${PYTHON_IMAGE} AS webhook
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-deps /wheels/llm_instrument-*.whl && rm -rf /wheels
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["llm-instrument", "webhook"]

# The init-container image (default target): a static busybox for `cp`, and the agent.
FROM ${BUSYBOX_IMAGE} AS agent
ARG PYTHON_VERSION
LABEL org.opencontainers.image.title="llm-instrument agent (init container)" \
      org.opencontainers.image.description="Python ${PYTHON_VERSION} agent files, copied into pods by the llm-instrument webhook" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.llm-instrument.python-version="${PYTHON_VERSION}" \
      io.llm-instrument.libc="any (pure Python)"
COPY --from=build /out /opt/llm-instrument
USER 65532:65532
# the webhook gives the command (mutate.init_command); this default does the same
CMD ["cp", "-R", "/opt/llm-instrument/bootstrap", "/opt/llm-instrument/site", "/llm-instrument"]
