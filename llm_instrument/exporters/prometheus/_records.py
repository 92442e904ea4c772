"""Metric snapshots as plain JSON-able records, and how several processes' records merge.

A record is ``{"name", "unit", "help", "type", "points"}`` with ``type`` one of:

- ``counter`` (monotonic sum) and ``histogram``: summed over every process, the dead
  included (their last values are folded into the retired record);
- ``updown`` (up-down counter, e.g. requests in flight): summed over the live processes
  only, so a dead worker's in-flight count disappears with it;
- ``gauge`` (last value): the most recently written live value.

Points are ``[attributes, value]`` or, for histograms, ``[attributes, bounds, bucket counts,
sum, count]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

Record = dict[str, Any]
CUMULATIVE = ("counter", "histogram")  # what survives its process


def snapshot(reader: InMemoryMetricReader) -> list[Record]:
    """The reader's cumulative metrics as records."""
    from opentelemetry.sdk.metrics.export import Histogram, Sum

    records: list[Record] = []
    data = reader.get_metrics_data()
    if data is None:
        return records
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                record: Record = {
                    "name": metric.name,
                    "unit": metric.unit,
                    "help": metric.description,
                    "points": [],
                }
                if isinstance(metric.data, Histogram):
                    record["type"] = "histogram"
                    for h in metric.data.data_points:
                        record["points"].append(
                            [
                                dict(h.attributes or {}),
                                list(h.explicit_bounds),
                                list(h.bucket_counts),
                                h.sum,
                                h.count,
                            ]
                        )
                else:
                    if isinstance(metric.data, Sum):
                        record["type"] = "counter" if metric.data.is_monotonic else "updown"
                    else:
                        record["type"] = "gauge"
                    for p in metric.data.data_points:
                        record["points"].append([dict(p.attributes or {}), getattr(p, "value", 0)])
                records.append(record)
    return records


def _key(attributes: dict[str, Any]) -> str:
    return json.dumps(attributes, sort_keys=True, default=str)


def subtract(records: list[Record], baseline: list[Record]) -> list[Record]:
    """``records`` less what ``baseline`` (the parent's values at fork) already holds."""
    before: dict[tuple[str, str], list[Any]] = {}
    for record in baseline:
        if record["type"] != "gauge":
            for point in record["points"]:
                before[(record["name"], _key(point[0]))] = point
    for record in records:
        for point in record["points"]:
            old = before.get((record["name"], _key(point[0])))
            if old is None:
                continue
            if record["type"] == "histogram" and old[1] == point[1]:
                point[2] = [a - b for a, b in zip(point[2], old[2], strict=True)]
                point[3] -= old[3]
                point[4] -= old[4]
            elif record["type"] in ("counter", "updown"):
                point[1] -= old[1]
    return records


def cumulative_only(records: Iterable[Record]) -> list[Record]:
    """What a dead process leaves behind: counters and histograms."""
    return [record for record in records if record["type"] in CUMULATIVE]


def merge(snapshots: Iterable[list[Record]]) -> dict[str, Record]:
    """Records merged by name and label set; later snapshots' gauges win."""
    result: dict[str, Record] = {}
    for records in snapshots:
        for record in records:
            target = result.setdefault(
                record["name"],
                {k: record[k] for k in ("name", "unit", "help", "type")} | {"points": {}},
            )
            points = target["points"]
            for point in record["points"]:
                key = _key(point[0])
                found = points.get(key)
                if record["type"] == "histogram":
                    attrs, bounds, counts, total, count = point
                    if found is None or found[1] != bounds:
                        points[key] = [attrs, bounds, list(counts), total, count]
                    else:
                        found[2] = [a + b for a, b in zip(found[2], counts, strict=True)]
                        found[3] += total
                        found[4] += count
                elif record["type"] != "gauge" and found is not None:
                    found[1] += point[1]
                else:
                    points[key] = list(point)
    return result


def as_list(merged: dict[str, Record]) -> list[Record]:
    """Merged records back in snapshot form (the retired record is stored so)."""
    return [record | {"points": list(record["points"].values())} for record in merged.values()]


# -- exposition --------------------------------------------------------------------------------
_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "%": "percent", "1": "ratio"}


def _prom_name(name: str, unit: str) -> str:
    base = "".join(c if c.isalnum() else "_" for c in name)
    suffix = _UNIT_SUFFIX.get(unit or "")
    if suffix and not base.endswith(suffix):
        base = f"{base}_{suffix}"
    return base


def _prom_labels(attrs: dict[str, Any]) -> dict[str, str]:
    return {"".join(c if c.isalnum() else "_" for c in str(k)): str(v) for k, v in attrs.items()}


def render(merged: dict[str, Record]) -> bytes:
    """Merged records in the Prometheus text format."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import Metric
    from prometheus_client.samples import Sample

    families: list[Any] = []
    for record in merged.values():
        name = _prom_name(record["name"], record["unit"])
        kind = record["type"] if record["type"] in ("counter", "histogram") else "gauge"
        family = Metric(name, record["help"], kind)
        for point in record["points"].values():
            labels = _prom_labels(point[0])
            if kind == "histogram":
                _, bounds, counts, total, count = point
                cumulative = 0
                for bound, bucket in zip([*bounds, None], counts, strict=False):
                    cumulative += bucket
                    le = "+Inf" if bound is None else repr(float(bound))
                    family.samples.append(
                        Sample(f"{name}_bucket", {**labels, "le": le}, cumulative)
                    )
                family.samples.append(Sample(f"{name}_count", labels, count))
                family.samples.append(Sample(f"{name}_sum", labels, total))
            elif kind == "counter":
                family.samples.append(Sample(f"{name}_total", labels, point[1]))
            else:
                family.samples.append(Sample(name, labels, point[1]))
        families.append(family)

    class _Merged:
        def collect(self) -> list[Any]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())
    return bytes(generate_latest(registry))
