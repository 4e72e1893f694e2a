"""Run the engine's Faust worker in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal

import faust

from agents.dashboard.page import install_dispatch_page
from agents.fraud.prometheus import FraudMetrics
from agents.fraud.review import install_fraud_review
from agents.fraud.scoring import install_fraud_scoring
from agents.kafka.app import create_app
from agents.kafka.metrics_page import install_metrics_page
from agents.kafka.preflight import check_connections
from agents.kafka.topics import ensure_topics
from agents.llm.worker_model import open_worker_model
from agents.routes.fleet_state import install_fleet_state
from agents.routes.prometheus import RouteMetrics
from agents.routes.route_cycle import install_route_cycle
from agents.routes.summary_store import SummaryStore
from engine.fraud.scorer import FraudScorer
from engine.settings import Settings


def build_worker_app(settings: Settings) -> faust.App:
    """The app with every agent installed."""
    app = create_app(settings)
    registry = install_metrics_page(app).registry  # /metrics whichever agents are on
    store = SummaryStore(str(settings.redis_url), settings.redis_prefix)
    wiring = install_fleet_state(app, settings, store)
    reviews = settings.fraud.enabled and settings.fraud.review_enabled
    users = [name for name, on in (("the route cycle", settings.route.enabled), ("the fraud review", reviews)) if on]
    model = open_worker_model(app, settings, users) if users else None  # one copy, loaded now (fail fast)
    if settings.route.enabled:
        install_route_cycle(app, settings, wiring.views, model, RouteMetrics(registry))
    if settings.fraud.enabled:
        metrics = FraudMetrics(registry)
        fraud = install_fraud_scoring(app, settings, metrics)
        if model is not None and reviews:
            install_fraud_review(app, settings, fraud.scoring, metrics, model)
    install_dispatch_page(app, settings)  # read-only, on the worker's web port: /dispatch
    return app


def run_worker(settings: Settings) -> None:
    """Block running the worker; faust handles signals and commits offsets on a clean stop."""
    if settings.route.enabled or (settings.fraud.enabled and settings.fraud.review_enabled):
        settings.llm.check_model_file()
    if settings.fraud.enabled:
        FraudScorer.load(settings.fraud.model_dir)  # raises ModelMissingError with what to do
    check_connections(settings)  # wrong security or credentials: one line naming the setting, not a traceback
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created = asyncio.run(ensure_topics(settings))
    if created:
        logging.getLogger(__name__).info("created topics: %s", ", ".join(created))
    app = build_worker_app(settings)
    # A hung worker can be asked where every thread is, even with its event loop blocked (SIGUSR1 needs the loop).
    faulthandler.register(signal.SIGQUIT, all_threads=True)
    worker = faust.Worker(app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()
