"""Kubernetes injection: a mutating admission webhook that adds the agent to labelled pods.

A pod labelled ``llm-instrument.io/inject: "true"`` gets an init container that copies the
agent (bootstrap + a ``pip install --target`` tree) into an ``emptyDir``, and its Python
containers get ``PYTHONPATH`` (bootstrap first, the application's own value kept),
``LLM_INSTRUMENT_AGENT_SITE`` (appended after site-packages by the bootstrap, so the agent's
dependencies never shadow the application's), the service name, OTLP settings, Kubernetes
resource attributes and a metrics port. No image, code or CRD change in the application.

Modules, one job each: ``options`` (the webhook's own settings and the label names),
``mutate`` (pod -> JSON patch, pure), ``review`` (AdmissionReview v1 in, response out),
``server`` (HTTPS), ``certs`` (self-signed TLS pair + ``caBundle``), ``cli``. The variable
names it gives pods come from ``llm_instrument.envvars``, the agent's too. Only the standard
library is imported: the webhook image carries no third-party package.
"""
