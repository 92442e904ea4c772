"""Built-in instrumentors, one module (or small package) per instrumented library.

Each exposes a module-level ``PLUGIN`` record (``llm_instrument.agent.plugin.Plugin``) built
from a table of what it wraps (``llm_instrument.agent.wrapping``), and imports nothing of its
target at module level, so the registry can read every record at start-up for free and patch
only what the application itself imports. How to add one: ``docs/writing-an-instrumentor.md``.
"""
