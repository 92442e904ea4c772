"""GPU device metrics (OpenTelemetry ``hw.gpu.*``), started once CUDA is in use by the app.

Nothing here runs at start-up: the transformers and sentence-transformers instrumentors call
``ensure_started()`` the first time they see a model on a CUDA device, so a process without
a GPU never loads NVML or asks torch about devices. Instruments (observed at each export):

- ``hw.gpu.memory.usage`` and ``hw.gpu.memory.limit`` (By, observable up-down counters);
- ``hw.gpu.memory.utilization`` (ratio, used/limit);
- ``hw.gpu.utilization`` (ratio, ``hw.gpu.task=general``; NVML only).

Each point has ``hw.id`` (the GPU UUID under NVML, else ``cuda:<index>``), ``hw.name`` and
``hw.type=gpu``. Source: NVML through the ``nvidia-ml-py`` package (``pip install
llm-instrument[nvml]``) when it imports and initialises, else torch's own counters
(``torch.cuda.mem_get_info``, no utilisation). Reading either never synchronises a stream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from llm_instrument.agent.guard import guard

_logger = logging.getLogger(__name__)
_lock = threading.Lock()
_started = False

MEMORY_USAGE = "hw.gpu.memory.usage"
MEMORY_LIMIT = "hw.gpu.memory.limit"
MEMORY_UTILIZATION = "hw.gpu.memory.utilization"
UTILIZATION = "hw.gpu.utilization"


class _Reading:
    __slots__ = ("attributes", "limit", "used", "utilization")

    def __init__(
        self, attributes: dict[str, str], used: int, limit: int, utilization: float | None
    ) -> None:
        self.attributes = attributes
        self.used = used
        self.limit = limit
        self.utilization = utilization


def _nvml_source() -> Callable[[], list[_Reading]] | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except (pynvml.NVMLError, OSError):  # no driver or library: use torch's counters
        return None
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]

    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    labels = [
        {
            "hw.id": text(pynvml.nvmlDeviceGetUUID(h)),
            "hw.name": text(pynvml.nvmlDeviceGetName(h)),
            "hw.type": "gpu",
        }
        for h in handles
    ]

    def read() -> list[_Reading]:
        found = []
        for handle, attributes in zip(handles, labels, strict=True):
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
            found.append(_Reading(attributes, int(memory.used), int(memory.total), rates.gpu / 100))
        return found

    return read


def _torch_source() -> Callable[[], list[_Reading]] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    labels = [
        {"hw.id": f"cuda:{i}", "hw.name": torch.cuda.get_device_name(i), "hw.type": "gpu"}
        for i in range(torch.cuda.device_count())
    ]

    def read() -> list[_Reading]:
        found = []
        for index, attributes in enumerate(labels):
            free, total = torch.cuda.mem_get_info(index)
            found.append(_Reading(attributes, int(total - free), int(total), None))
        return found

    return read


def register(meter: Meter, read: Callable[[], list[_Reading]]) -> None:
    """Create the ``hw.gpu.*`` observable instruments on ``meter``, fed by ``read``."""

    def observe(pick: Callable[[_Reading], float | None]) -> Callable[..., Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            readings: list[_Reading] = []
            with guard("gpu metrics: reading the devices"):
                readings = read()
            return [
                Observation(value, r.attributes) for r in readings if (value := pick(r)) is not None
            ]

        return callback

    meter.create_observable_up_down_counter(
        MEMORY_USAGE, [observe(lambda r: r.used)], unit="By", description="GPU memory used"
    )
    meter.create_observable_up_down_counter(
        MEMORY_LIMIT, [observe(lambda r: r.limit)], unit="By", description="GPU memory size"
    )
    meter.create_observable_gauge(
        MEMORY_UTILIZATION,
        [observe(lambda r: r.used / r.limit if r.limit else None)],
        unit="1",
        description="Fraction of GPU memory used",
    )

    def busy(r: _Reading) -> float | None:
        return r.utilization

    meter.create_observable_gauge(
        UTILIZATION,
        [
            lambda options: [
                Observation(o.value, {**(o.attributes or {}), "hw.gpu.task": "general"})
                for o in observe(busy)(options)
            ]
        ],
        unit="1",
        description="Fraction of time the GPU was busy",
    )


def ensure_started(meter: Meter | None = None) -> bool:
    """Start the GPU metrics once (idempotent, never raises); True when they run."""
    global _started
    if _started:
        return True
    with _lock:
        if _started:
            return True
        _started = True
        with guard("gpu metrics: starting"):
            read = _nvml_source() or _torch_source()
            if read is None:
                return False
            if meter is None:
                from llm_instrument.genai import metrics as genai_metrics

                meter = genai_metrics.meter()
            register(meter, read)
            _logger.debug("llm-instrument: GPU metrics started")
            return True
    return False
