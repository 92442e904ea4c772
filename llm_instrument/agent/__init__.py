"""The agent inside a traced process: bootstrap, start-up, settings, the plugin registry and
its wrapping helper, the error guard, and the tracer and meter providers."""
