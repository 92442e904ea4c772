"""GPU device metrics: nothing loaded without a GPU; ``hw.gpu.*`` from NVML (faked here)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from llm_instrument.instrumentors.transformers import _gpu_metrics as gpu_metrics


def _fake_nvml() -> types.ModuleType:
    nvml = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    def info(handle: int) -> Any:
        return types.SimpleNamespace(used=(handle + 1) * 2**30, total=8 * 2**30)

    nvml.NVMLError = NVMLError  # type: ignore[attr-defined]
    nvml.nvmlInit = lambda: None  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetUUID = lambda h: f"GPU-{h}".encode()  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetName = lambda h: "Fake H100"  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetMemoryInfo = info  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=50, memory=10)  # type: ignore[attr-defined]
    return nvml


def test_hw_gpu_metrics_from_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml())
    read = gpu_metrics._nvml_source()
    assert read is not None
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    gpu_metrics.register(provider.get_meter("test"), read)
    data = reader.get_metrics_data()
    points = {
        m.name: m.data.data_points
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    usage = {p.attributes["hw.id"]: p.value for p in points["hw.gpu.memory.usage"]}
    assert usage == {"GPU-0": 2**30, "GPU-1": 2 * 2**30}
    assert {p.value for p in points["hw.gpu.memory.limit"]} == {8 * 2**30}
    assert sorted(p.value for p in points["hw.gpu.memory.utilization"]) == [0.125, 0.25]
    (busy, _) = points["hw.gpu.utilization"]
    assert busy.value == 0.5
    assert busy.attributes["hw.gpu.task"] == "general"
    assert busy.attributes["hw.name"] == "Fake H100"
    assert busy.attributes["hw.type"] == "gpu"
    provider.shutdown()


def test_a_cpu_model_loads_no_gpu_metrics() -> None:
    """A traced CPU generate never starts GPU metrics nor imports NVML."""
    pytest.importorskip("transformers")
    code = textwrap.dedent(
        """
        import sys, transformers.generation.utils as gen_utils
        from llm_instrument.instrumentors import transformers as plugin
        from llm_instrument.instrumentors.transformers import _gpu_metrics as gpu_metrics
        from tests.support.tiny_models import build_gpt2, build_tokenizer
        plugin.patch(gen_utils)
        tok = build_tokenizer(); model = build_gpt2(tok)
        model.generate(**tok(["hi"], return_tensors="pt"), max_new_tokens=2)
        print(gpu_metrics._started, "pynvml" in sys.modules)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=240,
        env={"PYTHONPATH": ".", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == ["False", "False"]
