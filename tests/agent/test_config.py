"""Settings from the environment: defaults, standard OTEL_* names, and bad values that
become problems (one warning line at start-up) instead of errors."""

from __future__ import annotations

import pytest

from llm_instrument.agent import config
from llm_instrument.agent.plugin import Setting


def test_defaults_without_environment() -> None:
    settings = config.load({})
    assert settings.exporter == "local"
    assert settings.otlp_endpoint is None
    assert settings.otlp_protocol == "http/protobuf"
    assert settings.local_store == config.DEFAULT_LOCAL_STORE
    assert settings.capture_content is True
    assert settings.max_content_length == config.DEFAULT_MAX_CONTENT_LENGTH
    assert settings.metrics_port is None
    assert settings.disabled == frozenset()
    assert settings.gevent is False
    assert settings.problems == ()


def test_an_endpoint_makes_otlp_the_default_and_traces_endpoint_wins() -> None:
    settings = config.load(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/v1/traces",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        }
    )
    assert settings.exporter == "otlp"
    assert settings.otlp_endpoint == "http://traces:4318/v1/traces"
    assert settings.otlp_protocol == "grpc"
    explicit = config.load(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "LLM_INSTRUMENT_EXPORTER": "Console"}
    )
    assert explicit.exporter == "console"


@pytest.mark.parametrize(
    ("name", "raw", "field", "default"),
    [
        ("LLM_INSTRUMENT_EXPORTER", "kafka", "exporter", "local"),
        ("LLM_INSTRUMENT_CAPTURE_CONTENT", "maybe", "capture_content", True),
        ("LLM_INSTRUMENT_MAX_CONTENT_LENGTH", "-3", "max_content_length", 4096),
        ("LLM_INSTRUMENT_MAX_CONTENT_LENGTH", "lots", "max_content_length", 4096),
        ("LLM_INSTRUMENT_METRICS_PORT", "99999", "metrics_port", None),
        ("LLM_INSTRUMENT_LOG_LEVEL", "chatty", "log_level", "warning"),
        ("LLM_INSTRUMENT_GEVENT", "perhaps", "gevent", False),
    ],
)
def test_a_bad_value_is_a_problem_and_the_default_is_used(
    name: str, raw: str, field: str, default: object
) -> None:
    settings = config.load({name: raw})
    assert getattr(settings, field) == default
    (problem,) = settings.problems
    assert problem.startswith(f"{name}={raw} ignored (not ")


def test_bad_protocol_is_a_problem() -> None:
    settings = config.load({"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"})
    assert settings.otlp_protocol == "http/protobuf"
    assert len(settings.problems) == 1


def test_switches_names_and_gevent_enable() -> None:
    settings = config.load(
        {
            "LLM_INSTRUMENT_CAPTURE_CONTENT": "off",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": " requests, ,fastapi ",
            "GEVENT_ENABLE": "true",
            "LLM_INSTRUMENT_METRICS_PORT": "9464",
            "LLM_INSTRUMENT_TRANSFORMERS_MAX_TOKENS": "12",
        }
    )
    assert settings.capture_content is False
    assert settings.disabled == frozenset({"requests", "fastapi"})
    assert settings.gevent is True
    assert settings.metrics_port == 9464
    max_tokens = Setting("LLM_INSTRUMENT_TRANSFORMERS_MAX_TOKENS", 0, "", int)
    assert settings.value(max_tokens) == 12
    assert settings.value(Setting("LLM_INSTRUMENT_TRANSFORMERS_MISSING", "x", "")) == "x"
    assert settings.problems == ()


def test_a_bad_plugin_setting_is_one_problem_and_the_default() -> None:
    settings = config.load({"LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS": "every"})
    mode = Setting(
        "LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS", "outer", "", config.parse_choice(("outer", "all"))
    )
    assert settings.value(mode) == "outer"
    problems = config.check_plugin_settings(settings, [mode])
    assert len(problems) == 1
    assert problems[0].startswith("LLM_INSTRUMENT_LANGCHAIN_CHAIN_SPANS=every ignored")


def test_every_option_has_a_flag_and_an_environment_name() -> None:
    flags = [option.flag for option in config.OPTIONS]
    envs = [option.env for option in config.OPTIONS]
    assert len(set(flags)) == len(flags) and len(set(envs)) == len(envs)
    for option in config.OPTIONS:
        assert option.flag.startswith("--")
        assert option.env.startswith(("OTEL_", "LLM_INSTRUMENT_"))
