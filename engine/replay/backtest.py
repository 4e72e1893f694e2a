"""Backtest: the live decision core run offline over a recorded log, on an event-time clock, deterministically.

Routes: order/vehicle/traffic events build FleetStates exactly as the live agent does; every cycle of event time
each fleet is decided by `engine.routes.decide.decide` with work budgets (no time limits), LLM answers from a cache.
Fraud: payments are validated, featurised and scored by the same functions as the live agent; labels in the log
feed the terminal features and the final metrics; the most uncertain cases are reviewed every cycle.
With `reproduce`, the cycles are the ones a live worker recorded on the decisions topic, each on exactly the
inputs it had applied (DecisionRecord.input_offsets) and with the LLM answer it used (by request hash).
Records are taken in `time_ordered` order (merged by timestamp across topics and partitions), as replay sends them.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.fraud.detection_metrics import detection_metrics
from engine.fraud.features import FeatureBuilder, TxView
from engine.fraud.intake import read_transaction
from engine.fraud.review import FraudReviewer, ReviewCase, bounded_pool, most_uncertain, review_case, reviews_of
from engine.fraud.risk_assessor import BlockLists, RiskAssessor
from engine.fraud.scorer import FraudScorer
from engine.llm.answer_cache import AnswerCache, CachedLanguageModel
from engine.llm.language_model import LanguageModel
from engine.replay.event_clock import EventClock
from engine.replay.event_log import LOOKAHEAD, EventLogReader, LogRecord, read_header, time_ordered
from engine.routes.decide import Budget, decide
from engine.routes.llm_proposer import LlmProposer, Proposal, proposal_from_answer
from engine.routes.plan import Plan
from engine.routes.problem import build_problem
from engine.routes.state import FleetEvent, FleetState, SourcePosition, fleet_input_schemas, read_fleet_event
from engine.routes.travel import StraightLineTravel
from engine.settings import Settings
from schemas import (
    DecisionRecord,
    DecodeError,
    FraudLabel,
    Transaction,
    decode,
)

FRAUD_BATCH = 500  # payments scored per model call; features are computed one by one, so results do not change

Output = Callable[[dict[str, Any]], None]


def encode_line(item: dict[str, Any]) -> str:
    """One output line: sorted keys, no spaces, so equal decisions are equal bytes."""
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class BacktestSummary:
    """Counts of one backtest (what the decision file's last line holds)."""

    events: int = 0
    dead_letters: int = 0
    cycles: int = 0
    route_decisions: int = 0
    plans_published: int = 0
    transactions_scored: int = 0
    duplicates: int = 0
    alerts: int = 0
    reviews: int = 0
    labels: int = 0
    recorded_answers_found: int = 0  # reproduce mode: live LLM answers found in the cache by their hash
    unreproducible: int = 0  # reproduce mode: decisions without input offsets, or whose answer is not cached
    late_records: int = 0  # records older than a cycle already decided (out of time order beyond the lookahead)
    fraud_metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MissingTopicError(ValueError):
    """The log lacks a topic the backtest needs (or holds it under a name the settings do not know)."""


@dataclass
class _FraudState:
    """Offline counterpart of the fraud agent's tables: histories, labels, the batch being scored."""

    builder: FeatureBuilder = field(default_factory=FeatureBuilder)
    pending: list[tuple[Transaction, TxView, dict[str, float], datetime]] = field(default_factory=list)
    pool: list[ReviewCase] = field(default_factory=list)
    labels: dict[str, bool] = field(default_factory=dict)
    scored: list[tuple[str, str, datetime, float, float]] = field(default_factory=list)  # id, customer, at, scores


class Backtest:
    """Feed it a log's records in order (run), it writes one JSON object per decision through `output`."""

    def __init__(self, settings: Settings, output: Output, *, llm: LanguageModel | None = None,
                 answers: AnswerCache | None = None, open_assessor: Callable[[], RiskAssessor] | None = None,
                 reproduce: bool = False, speed_kmh: float | None = None, lookahead: int = LOOKAHEAD) -> None:
        self.settings = settings
        self.lookahead = lookahead  # records the time-order merge looks ahead (0: file order, as before the merge)
        self.topics = settings.topics
        self.output = output
        self.answers = answers  # reproduce mode reads a live decision's answer by the hash it recorded
        self.proposer = (LlmProposer(llm, max_tokens=settings.llm.max_tokens, max_orders=settings.route.llm_orders)
                         if llm is not None else None)
        self.reviewer = (FraudReviewer(llm, max_tokens=settings.llm.max_tokens)
                         if llm is not None and settings.fraud.review_enabled else None)
        self.open_assessor = open_assessor
        self.assessor: RiskAssessor | None = None
        self.reproduce = reproduce
        self.budget = Budget.of(settings.route, by_work=True)  # time limits would make reruns differ
        self.travel = StraightLineTravel(speed_kmh=speed_kmh or settings.route.speed_kmh)
        self.clock = EventClock(settings.cycle_seconds)
        self.fleets: dict[str, FleetState] = {}
        self.previous: dict[str, Plan] = {}
        self.fraud = _FraudState()
        self.summary = BacktestSummary()
        self.schema_for = fleet_input_schemas(self.topics)
        # reproduce: inputs wait per fleet and per topic/partition until a recorded decision asks for them
        self.queued: dict[str, dict[str, deque[tuple[int, FleetEvent, SourcePosition]]]] = defaultdict(
            lambda: defaultdict(deque))
        self.recorded: list[DecisionRecord] = []
        self.last_offsets: dict[str, int] = {}  # "topic/partition" -> highest offset in the log
        self.last_cycle_ms: int | None = None  # event time of the latest cycle decided

    def run(self, records: Iterable[LogRecord]) -> BacktestSummary:
        """Take every record, fire the cycles on event time, and write the summary line last."""
        for record in time_ordered(records, self.lookahead):
            at = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
            if not self.reproduce:
                for cycle_at in self.clock.due(at):
                    self.cycle(cycle_at)
                    self.last_cycle_ms = int(cycle_at.timestamp() * 1000)
                if self.last_cycle_ms is not None and record.timestamp_ms < self.last_cycle_ms:
                    self.summary.late_records += 1  # a cycle before it has decided without it
            self.take(record, at)
        self._check_inputs()
        if self.reproduce:
            self._flush_fraud()
            self.replay_recorded()
        else:
            last = self.clock.last()
            if last is not None:
                self.cycle(last)
        self._flush_fraud()
        self.summary.fraud_metrics = self._fraud_metrics()
        self.output({"kind": "summary", **self.summary.as_dict()})
        return self.summary

    def take(self, record: LogRecord, at: datetime) -> None:
        """One recorded message: fleet input, payment, label, a live decision (reproduce), or ignored."""
        topic = record.topic
        slot = f"{topic}/{record.partition}"
        self.last_offsets[slot] = max(record.offset, self.last_offsets.get(slot, -1))
        if topic in self.schema_for:
            self.summary.events += 1
            self._take_fleet_event(record, at)
        elif topic == self.topics.transactions:
            self.summary.events += 1
            self._take_transaction(record, at)
        elif topic == self.topics.fraud_labels:
            self.summary.events += 1
            self._take_label(record)
        elif topic == self.topics.decisions and self.reproduce:
            try:
                self.recorded.append(decode(DecisionRecord, record.value))
            except DecodeError as error:
                self._dead_letter(record, error)

    def _check_inputs(self) -> None:
        """MissingTopicError when the log holds nothing the backtest reads, or (reproduce) not what it needs."""
        seen = sorted({slot.rsplit("/", 1)[0] for slot in self.last_offsets})
        held = ", ".join(seen) or "no records"
        if self.reproduce:
            self._check_reproducible(held)
        elif seen and not self.summary.events:
            t = self.topics
            raise MissingTopicError(
                f"the log holds none of the topics a backtest reads ({t.orders}, {t.vehicles}, {t.traffic}, "
                f"{t.transactions}, {t.fraud_labels}), only {held}: record them, or set ENGINE_TOPICS__* to the "
                "recorded names")

    def _check_reproducible(self, held: str) -> None:
        """Every recorded decision's inputs must be in the log, under topic names the settings know."""
        decisions = self.topics.decisions
        if not self.recorded:
            raise MissingTopicError(
                f"--reproduce needs the live decisions: the log has no records of topic {decisions} (it holds "
                f"{held}): record it too (engine record --topic {decisions} ...), or set ENGINE_TOPICS__DECISIONS "
                "to the recorded name")
        for live in self.recorded:
            for slot, offset in sorted(live.input_offsets.items()):
                topic = slot.rsplit("/", 1)[0]
                if topic not in self.schema_for:
                    raise MissingTopicError(
                        f"decision {live.decision_id} applied {slot}, which is not a fleet input topic of these "
                        f"settings ({', '.join(self.schema_for)}): set ENGINE_TOPICS__ORDERS/VEHICLES/TRAFFIC to the "
                        "live worker's names")
                if self.last_offsets.get(slot, -1) < offset:
                    where = (f"the log holds it only up to offset {self.last_offsets[slot]}"
                             if slot in self.last_offsets else f"the log has no record of it (it holds {held})")
                    raise MissingTopicError(
                        f"decision {live.decision_id} applied {slot} up to offset {offset}, but {where}: record "
                        f"topic {topic} with the others, to its end (engine record --topic {topic} ...)")

    def _dead_letter(self, record: LogRecord, error: DecodeError) -> None:
        self.summary.dead_letters += 1
        self.output({"kind": "dead_letter", "topic": record.topic, "partition": record.partition,
                     "offset": record.offset, "error": str(error)[:1000]})

    def _take_fleet_event(self, record: LogRecord, at: datetime) -> None:
        try:
            event, fleet_id = read_fleet_event(self.schema_for[record.topic], record.value, record.key, at,
                                               self.settings.route.max_future_s)
        except DecodeError as error:
            self._dead_letter(record, error)
            return
        source = SourcePosition(topic=record.topic, partition=record.partition, offset=record.offset)
        if self.reproduce:
            self.queued[fleet_id][f"{record.topic}/{record.partition}"].append((record.offset, event, source))
            return
        self.fleets.setdefault(fleet_id, FleetState(fleet_id)).apply(event, source)

    def cycle(self, at: datetime) -> None:
        """One cycle at event time `at`: every fleet with vehicles, then the fraud review."""
        self.summary.cycles += 1
        for fleet_id in sorted(self.fleets):
            state = self.fleets[fleet_id]
            if fleet_id.startswith("region:") or not state.vehicles:
                continue
            self.decide_fleet(state, at, None)
        self._flush_fraud()
        self._review(at)

    def decide_fleet(self, state: FleetState, at: datetime, proposal: Proposal | None, *,
                     recorded: bool = False, llm_asked: bool | None = None, llm_failure: str | None = None) -> None:
        problem = build_problem(state, at, self.travel)
        if not recorded and self.proposer is not None:
            proposal, llm_asked = self.proposer.propose(problem), True  # offline every fleet has its turn
        previous = self.previous.get(state.fleet_id) or Plan.of({})
        decision = decide(problem, llm=proposal, previous=previous, budget=self.budget,
                          input_offsets=state.applied_offsets, llm_asked=llm_asked, llm_failure=llm_failure)
        if decision.plan is not None:
            assert decision.chosen is not None
            self.previous[state.fleet_id] = decision.chosen.plan
            self.summary.plans_published += 1
        self.summary.route_decisions += 1
        # Timings are the one thing that differs between runs: they are left out of the file.
        record = decision.record.model_copy(update={"stage_ms": {}})
        self.output({"kind": "route", "fleet_id": state.fleet_id, "cycle_at": at.isoformat(),
                     "plan": decision.plan.model_dump(mode="json") if decision.plan else None,
                     "record": record.model_dump(mode="json")})

    def replay_recorded(self) -> None:
        """Reproduce mode: each recorded decision on the inputs it had applied, with the answer it used."""
        for live in sorted(self.recorded, key=lambda r: (r.cycle_at, r.fleet_id)):
            if not live.input_offsets:  # written by a worker older than input_offsets: its inputs are unknown
                self.summary.unreproducible += 1
                self.output({"kind": "unreproducible", "decision_id": live.decision_id,
                             "reason": "the decision record has no input offsets"})
                continue
            state = self.fleets.setdefault(live.fleet_id, FleetState(live.fleet_id))
            for slot, queue in self.queued[live.fleet_id].items():
                target = live.input_offsets.get(slot, -1)
                while queue and queue[0][0] <= target:
                    _, event, source = queue.popleft()
                    state.apply(event, source)
            self.summary.cycles += 1
            self.decide_fleet(state, live.cycle_at, self._recorded_proposal(live), recorded=True,
                              llm_asked=live.llm_asked, llm_failure=live.llm_failure)

    def _recorded_proposal(self, live: DecisionRecord) -> Proposal | None:
        """The LLM proposal a live decision used: its answer from the cache by the hash it recorded."""
        if live.prompt_hash is None:
            return None  # the live cycle decided without the LLM (busy or switched off)
        cached = self.answers.get(live.prompt_hash) if self.answers is not None else None
        if cached is None:
            if live.llm_raw_text is not None:
                self.summary.unreproducible += 1  # it had an answer we cannot find
            return Proposal("llm", None, prompt_hash=live.prompt_hash, parse_error="LLM failed: answer not cached")
        self.summary.recorded_answers_found += 1
        return proposal_from_answer(cached.text, live.prompt_hash)

    def _take_transaction(self, record: LogRecord, at: datetime) -> None:
        fraud = self.fraud
        try:
            tx = read_transaction(record.value, record.key, at, self.settings.fraud.max_future_s)
        except DecodeError as error:
            self._dead_letter(record, error)
            return
        history = fraud.builder.customers.get(tx.customer_id)
        if history is not None and history.has(tx.transaction_id):
            self.summary.duplicates += 1
            return
        view = TxView(tx.transaction_id, tx.occurred_at, tx.customer_id, tx.terminal_id, tx.amount)
        fraud.pending.append((tx, view, fraud.builder.features(view), at))
        fraud.builder.add(view)
        if len(fraud.pending) >= FRAUD_BATCH:
            self._flush_fraud()

    def _take_label(self, record: LogRecord) -> None:
        try:
            label = decode(FraudLabel, record.value)
        except DecodeError as error:
            self._dead_letter(record, error)
            return
        self.summary.labels += 1
        self.fraud.builder.add_label(label.terminal_id, label.occurred_at, label.fraud)
        self.fraud.labels[label.transaction_id] = label.fraud

    def _flush_fraud(self) -> None:
        fraud = self.fraud
        if not fraud.pending:
            return
        if self.assessor is None:
            if self.open_assessor is None:
                raise ValueError("the log holds payments but no fraud model was given")
            self.assessor = self.open_assessor()
        batch, fraud.pending = fraud.pending, []
        scores = self.assessor.assess([(view, features) for _, view, features, _ in batch], BlockLists(),
                                      batch[-1][3])
        for (tx, _, _, at), score in zip(batch, scores, strict=True):
            score = score.model_copy(update={"scored_at": at})  # when it arrived, as live
            self.summary.transactions_scored += 1
            self.summary.alerts += score.alert
            fraud.scored.append((tx.transaction_id, tx.customer_id, tx.occurred_at, score.model_score,
                                 score.rules_score))
            self.output({"kind": "fraud_score", "score": score.model_dump(mode="json")})
            case = review_case(tx, score)
            if case is not None:
                fraud.pool.append(case)
        fraud.pool = bounded_pool(fraud.pool, self.settings.fraud.alert_threshold)

    def _review(self, at: datetime) -> None:
        pool, self.fraud.pool = self.fraud.pool, []
        if self.reviewer is None or not pool:
            return
        cases = most_uncertain(pool, self.settings.fraud.review_top_k, self.settings.fraud.alert_threshold)
        outcome = self.reviewer.review(cases)
        if outcome.error is not None:
            self.output({"kind": "fraud_review_rejected", "cycle_at": at.isoformat(), "error": outcome.error[:500],
                         "prompt_hash": outcome.prompt_hash})
            return
        for review in reviews_of(replace(outcome, seconds=0.0), at, at):  # offline: no latency to report
            self.summary.reviews += 1
            self.output({"kind": "fraud_review", "review": review.model_dump(mode="json")})

    def _fraud_metrics(self) -> dict[str, float]:
        """PR-AUC and friends over the scored payments whose labels are in the log (none: empty)."""
        known = [row for row in self.fraud.scored if row[0] in self.fraud.labels]
        if not known or not any(self.fraud.labels[row[0]] for row in known):
            return {}
        first = min(row[2] for row in known)
        metrics = detection_metrics(
            labels=[self.fraud.labels[row[0]] for row in known], model=[row[3] for row in known],
            rules=[row[4] for row in known], days=[(row[2] - first).days for row in known],
            customers=[row[1] for row in known])
        return {"labelled": len(known), "frauds": sum(self.fraud.labels[row[0]] for row in known), **metrics}


@dataclass(frozen=True)
class BacktestRun:
    """What run_backtest did: the summary, how many answers came from the cache, and how long it took."""

    summary: BacktestSummary
    llm_hits: int
    llm_misses: int
    seconds: float


def run_backtest(settings: Settings, log: Path, out: Path, *, cache: AnswerCache | None, ask_model: bool,
                 reproduce: bool = False, strict: bool = True, speed_kmh: float | None = None) -> BacktestRun:
    """Backtest `log` into the JSON-lines file `out` (written whole, then renamed into place)."""
    from engine.llm.factory import open_cached_model

    started = time.monotonic()
    header = read_header(log)
    speed = speed_kmh or header.get("route_speed_kmh")  # logs built from real trips carry their observed speed
    llm = open_cached_model(settings.llm, cache, may_ask=ask_model) if cache is not None else None

    def open_assessor() -> RiskAssessor:
        fraud = settings.fraud
        return RiskAssessor(FraudScorer.load(fraud.model_dir), alert_threshold=fraud.alert_threshold,
                            max_amount=fraud.max_amount, top_reasons=fraud.top_reasons)

    partial = out.with_name(out.name + ".partial")  # a failed run leaves no file that looks finished
    try:
        summary = _write_backtest(settings, log, partial, header, speed, llm, cache, open_assessor, reproduce,
                                  strict)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)
    return BacktestRun(summary, llm.hits if llm else 0, llm.misses if llm else 0, time.monotonic() - started)


def _write_backtest(settings: Settings, log: Path, partial: Path, header: dict[str, Any], speed: float | None,
                    llm: CachedLanguageModel | None, cache: AnswerCache | None,
                    open_assessor: Callable[[], RiskAssessor], reproduce: bool, strict: bool) -> BacktestSummary:
    with partial.open("w", encoding="utf-8", newline="\n") as f:
        def write(item: dict[str, Any]) -> None:
            f.write(encode_line(item) + "\n")

        write({"kind": "backtest", "log": log.name, "log_header": header, "reproduce": reproduce,
               "cycle_seconds": settings.cycle_seconds, "speed_kmh": speed or settings.route.speed_kmh,
               "budget": {"improve_solutions": settings.route.improve_solutions,
                          "solver_iterations": settings.route.solver_iterations,
                          "stability_cost": settings.route.stability_cost},
               "llm": settings.llm.identity if llm is not None else None})
        backtest = Backtest(settings, write, llm=llm, answers=cache, open_assessor=open_assessor,
                            reproduce=reproduce, speed_kmh=speed)
        return backtest.run(EventLogReader(log, strict=strict))
