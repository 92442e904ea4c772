"""The ``llm-instrument`` command: the launcher and its subcommands (view, list, doctor)."""
