"""The worker's /metrics page on real workers: routes only, fraud only and both; the Grafana dashboard's series."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents.worker_process import WorkerProcess
from schemas import GeoPoint, OrderEvent, TimeWindow, VehicleEvent
from tests.fraud_factories import transaction
from tests.support import ROOT, IsolatedEngine, consume_all, produce, wait_for

pytestmark = pytest.mark.integration

DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
CENTRE = (53.4084, -2.9916)
ROUTES = {"ENGINE_ROUTE__ENABLED": "true", "ENGINE_CYCLE_SECONDS": "4", "ENGINE_ROUTE__LLM_S": "1.0",
          "ENGINE_ROUTE__IMPROVE_S": "0.5", "ENGINE_ROUTE__SOLVER_S": "0.5", "ENGINE_LLM__N_CTX": "8192",
          "ENGINE_ROUTE__SEARCH_PROCESSES": "1"}
FRAUD = {"ENGINE_FRAUD__ENABLED": "true", "ENGINE_FRAUD__REVIEW_ENABLED": "false"}
# Suffixes a scrape's sample names take per family type (a family can be declared before it has samples).
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "gauge": ("",), "summary": ("", "_count", "_sum", "_created"), "info": ("_info",), "untyped": ("",)}


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(engine: IsolatedEngine) -> tuple[Samples, set[str]]:
    """(value of every sample by name and labels, every series name the page declares) from a real GET."""
    response = httpx.get(f"http://127.0.0.1:{engine.settings.worker_web_port}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
            names.add(sample.name)
    return samples, names


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of a series over every label set that includes `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture
def start(services: None, tmp_path: Path, tiny_granite: tuple[Path, Path]) -> Iterator[
        tuple[list[WorkerProcess], Path]]:
    """Workers started by a test (stopped afterwards) and the tiny Granite they load."""
    workers: list[WorkerProcess] = []
    yield workers, tiny_granite[1]
    for worker in workers:
        worker.stop()


def run_worker(tmp_path: Path, started: tuple[list[WorkerProcess], Path], settings: dict[str, str]) -> IsolatedEngine:
    engine = IsolatedEngine.create(tmp_path / "state", **settings, ENGINE_LLM__MODEL_PATH=str(started[1]))
    worker = WorkerProcess(engine.env, tmp_path / "worker.log")
    started[0].append(worker)
    worker.start()
    return engine


def feed_fleet(engine: IsolatedEngine, fleet: str, orders: int = 5) -> None:
    """Three vans and `orders` orders for one fleet, plus one junk message for the dead-letter topic."""
    now = datetime.now(UTC)
    shift = TimeWindow(start=now - timedelta(hours=1), end=now + timedelta(hours=8))
    vans = [VehicleEvent(event_id=f"{fleet}-v{i}", fleet_id=fleet, vehicle_id=f"v{i}", occurred_at=now,
                         position=GeoPoint(lat=CENTRE[0] + 0.01 * i, lon=CENTRE[1]), capacity=10, shift=shift)
            for i in range(3)]
    order_events = [OrderEvent(event_id=f"{fleet}-o{i}", action="create", fleet_id=fleet, order_id=f"o{i}",
                               occurred_at=now, location=GeoPoint(lat=CENTRE[0] + 0.004 * i, lon=CENTRE[1] + 0.003),
                               demand=2, time_window=TimeWindow(start=now, end=now + timedelta(hours=4)),
                               service_time_s=120) for i in range(orders)]
    produce(engine.settings.topics.vehicles, [(fleet.encode(), v.to_bytes()) for v in vans])
    produce(engine.settings.topics.orders, [(fleet.encode(), o.to_bytes()) for o in order_events]
            + [(fleet.encode(), b"\x00 not an order")])


def assert_route_series(engine: IsolatedEngine, fleet: str) -> Samples:
    """Waits for two cycles of the fleet, then checks every route series on the page."""
    wait_for(lambda: total(scrape(engine)[0], "route_decisions_total") >= 2, 60, "two route decisions")
    orders_topic = engine.settings.topics.orders
    samples = wait_for(lambda: (s := scrape(engine)[0]) and any(
        n == "engine_consumer_lag" and ("topic", orders_topic) in ls for n, ls in s) and s, 30, "the orders lag")
    assert (value(samples, "route_cycles_total") or 0) >= 1
    assert (value(samples, "route_cycle_seconds_count") or 0) >= 1
    assert (value(samples, "route_cycle_lateness_seconds_count") or 0) >= 1
    assert (value(samples, "route_plan_cost", fleet=fleet) or 0) > 0
    assert value(samples, "route_plan_unassigned", fleet=fleet) == 0
    assert (value(samples, "route_decisions_total", published="true") or 0) >= 2
    for stage in ("problem", "llm", "solver", "final_check", "publish"):
        assert (value(samples, "route_stage_seconds_count", stage=stage) or 0) >= 2, stage
    asked = sum(value(samples, "route_llm_requests_total", outcome=o) or 0
                for o in ("ok", "late", "http_error", "context_exceeded", "timeout", "error", "parse_error"))
    assert asked >= 1, "the tiny Granite was asked"
    if (value(samples, "route_llm_requests_total", outcome="ok") or 0) >= 1:
        assert (value(samples, "route_llm_tokens_total", direction="in") or 0) > 0
    assert (value(samples, "engine_input_events_total", topic=orders_topic) or 0) >= 6
    assert value(samples, "engine_dead_letters_total", topic=orders_topic) == 1
    lags = [v for (n, ls), v in samples.items() if n == "engine_consumer_lag" and ("topic", orders_topic) in ls]
    assert lags and all(lag >= 0 for lag in lags)
    return samples


def test_routes_only_worker_serves_route_series(tmp_path: Path, start: tuple[list[WorkerProcess], Path]) -> None:
    """With only the route cycle on, /metrics answers with cycles, stages, LLM outcomes, the fleet's plan cost
    and unassigned count, inputs, dead letters and lag per topic; no fraud series."""
    engine = run_worker(tmp_path, start, ROUTES)
    feed_fleet(engine, "fleet-m")
    samples = assert_route_series(engine, "fleet-m")
    assert not any(name.startswith("fraud_") for name, _ in samples)


def send_payments(engine: IsolatedEngine, count: int) -> None:
    now = datetime.now(UTC)
    txs = [transaction(f"m{i}", now - timedelta(hours=count - i), customer="cm", amount=30.0 + i)
           for i in range(count)]
    produce(engine.settings.topics.transactions, [(tx.customer_id.encode(), tx.to_bytes()) for tx in txs])


def test_fraud_only_worker_keeps_fraud_series(tmp_path: Path, start: tuple[list[WorkerProcess], Path],
                                              fraud_model: Path) -> None:
    """With only fraud scoring on, the fraud series are as before, beside input counts; no route series."""
    engine = run_worker(tmp_path, start, {**FRAUD, "ENGINE_FRAUD__MODEL_DIR": str(fraud_model)})
    send_payments(engine, 4)
    samples = wait_for(lambda: (s := scrape(engine)[0]) and (value(s, "fraud_transactions_scored_total") or 0) >= 4
                       and s, 60, "four payments scored")
    assert (value(samples, "fraud_batch_seconds_count") or 0) >= 1
    transactions = engine.settings.topics.transactions
    assert (value(samples, "engine_input_events_total", topic=transactions) or 0) >= 4
    assert not any(name.startswith("route_") for name, _ in samples)


def dashboard_series() -> dict[str, set[str]]:
    """Every metric name used in each panel's expressions, by panel title."""
    dashboard = json.loads(DASHBOARD.read_text())
    keywords = {"sum", "rate", "irate", "increase", "histogram_quantile", "max", "min", "avg", "topk", "clamp_min",
                "delta", "deriv", "count", "and", "or", "unless"}
    used: dict[str, set[str]] = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            # Drop label matchers, ranges, strings and grouping clauses: what is left names series and functions.
            expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|\b(by|without|on|ignoring)\s*\([^)]*\)", " ",
                          target["expr"])
            names = {w for w in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr) if w not in keywords}
            used.setdefault(panel["title"], set()).update(names)
    return used


def test_both_on_serves_both_and_every_dashboard_series_exists(
        tmp_path: Path, start: tuple[list[WorkerProcess], Path], fraud_model: Path) -> None:
    """Routes and fraud in one worker share one page; every series the Grafana dashboard uses is on it."""
    engine = run_worker(tmp_path, start, {**ROUTES, **FRAUD, "ENGINE_FRAUD__MODEL_DIR": str(fraud_model)})
    feed_fleet(engine, "fleet-b")
    send_payments(engine, 3)
    assert_route_series(engine, "fleet-b")
    _, names = wait_for(lambda: (s := scrape(engine)) and (value(s[0], "fraud_transactions_scored_total")
                                                            or 0) >= 3 and s, 60, "three payments scored")
    used = dashboard_series()
    assert len(used) >= 8 and all(used.values()), used
    missing = {title: sorted(n - names) for title, n in used.items() if n - names}
    assert not missing, f"dashboard panels use series the worker does not serve: {missing}"
    assert len(consume_all(engine.settings.topics.dead_letters)) == 1
