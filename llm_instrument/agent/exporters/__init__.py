"""Span exporters: the choice between OTLP, console, the local store and none."""
