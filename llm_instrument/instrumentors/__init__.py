"""Built-in instrumentors, one module (or small package) per instrumented library.

Each exposes a module-level ``PLUGIN`` record (``llm_instrument.agent.plugin.Plugin``) and
imports nothing of its target at module level, so the registry can read every record at
start-up for free and patch only what the application itself imports.
"""
