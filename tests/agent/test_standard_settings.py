"""Standard OTEL_* settings and the agent's own delivery settings, as parsed by config."""

from __future__ import annotations

from llm_instrument.agent import config


def test_per_signal_endpoints() -> None:
    both = config.load({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"})
    assert both.traces_url == "http://c:4318/v1/traces"
    assert both.metrics_url == "http://c:4318/v1/metrics"
    assert both.metrics_exporters == ("otlp",)
    traces_only = config.load({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://p:6006/v1/traces"})
    assert traces_only.exporter == "otlp"
    assert traces_only.traces_url == "http://p:6006/v1/traces"
    assert traces_only.metrics_exporters == ()
    assert traces_only.metrics_url is None
    metrics_only = config.load({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:1/x"})
    assert metrics_only.exporter == "local"
    assert metrics_only.metrics_url == "http://m:1/x"


def test_standard_exporter_variables() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"}
    assert config.load(env).metrics_exporters == ()
    assert config.load({"OTEL_METRICS_EXPORTER": "console"}).metrics_exporters == ("console",)
    asked = config.load({"OTEL_METRICS_EXPORTER": "otlp"})
    assert asked.metrics_url == "http://localhost:4318/v1/metrics"
    assert config.load({"OTEL_TRACES_EXPORTER": "none"}).exporter == "none"
    ours_wins = {"OTEL_TRACES_EXPORTER": "console", "LLM_INSTRUMENT_EXPORTER": "local"}
    assert config.load(ours_wins).exporter == "local"
    bad = config.load({"OTEL_METRICS_EXPORTER": "kafka"})
    assert bad.metrics_exporters == ()
    (problem,) = bad.problems
    assert problem.startswith("OTEL_METRICS_EXPORTER='kafka' ignored")


def test_queue_sizes_are_consistent_whatever_is_set() -> None:
    small = config.load({"OTEL_BSP_MAX_QUEUE_SIZE": "100"})
    assert (small.max_queue_size, small.max_export_batch_size) == (100, 100)
    assert small.problems == ()
    sized = config.load({"LLM_INSTRUMENT_MAX_QUEUE_BYTES": "8MiB", "OTEL_BSP_SCHEDULE_DELAY": "0"})
    assert (sized.max_queue_bytes, sized.schedule_delay_ms) == (8 * 2**20, 0)
    assert config.load({}).max_queue_bytes == config.DEFAULT_MAX_QUEUE_BYTES
    assert config.parse_bytes("512k") == 512 * 1024


def test_scheme_is_added_once_with_a_problem() -> None:
    settings = config.load({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})
    assert settings.traces_url == "http://collector:4318/v1/traces"
    assert settings.metrics_url == "http://collector:4318/v1/metrics"
    (problem,) = settings.problems
    assert "has no scheme" in problem


def test_unknown_variables_name_the_closest_known_one() -> None:
    settings = config.load(
        {
            "LLM_INSTRUMENT_EXPORTR": "console",
            "LLM_INSTRUMENT_METRICS_DIR": "/tmp/x",  # the agent's own
            "LLM_INSTRUMENT_ZZZ": "1",
        }
    )
    problems = config.check_plugin_settings(settings, [])
    assert problems == [
        "LLM_INSTRUMENT_EXPORTR is not an llm-instrument setting, ignored; "
        "did you mean LLM_INSTRUMENT_EXPORTER?",
        "LLM_INSTRUMENT_ZZZ is not an llm-instrument setting, ignored",
    ]


def test_exit_budget_and_metrics_host() -> None:
    settings = config.load({"LLM_INSTRUMENT_EXIT_TIMEOUT": "2.5"})
    assert settings.exit_timeout_s == 2.5
    assert settings.metrics_host == "0.0.0.0"
    assert config.load({"LLM_INSTRUMENT_METRICS_HOST": "127.0.0.1"}).metrics_host == "127.0.0.1"
