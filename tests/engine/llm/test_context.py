"""Prompt sizing: prompts cut to the model's context, a clear reason when nothing fits, exact counts in process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.llm import LlamaCppModel, LlmRequestError
from engine.llm.answer_cache import CachedLanguageModel
from engine.llm.context import CHAT_OVERHEAD_TOKENS, estimate_tokens, overflow
from engine.llm.language_model import Completion
from engine.routes.llm_proposer import LlmProposer, prompt_stops
from engine.routes.problem import Problem, Stop, Vehicle
from engine.routes.travel import StraightLineTravel
from schemas import PlanePoint
from tests.factories import T0


class CountingModel:
    """A sized LanguageModel stand-in: one token per four characters, a fixed context; keeps every prompt."""

    def __init__(self, n_ctx: int) -> None:
        self.n_ctx = n_ctx
        self.prompts: list[str] = []

    @property
    def context_tokens(self) -> int:
        return self.n_ctx

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def complete_json(self, prompt: str, json_schema: dict[str, Any], *, max_tokens: int) -> Completion:
        self.prompts.append(prompt)
        return Completion('{"routes": []}', self.count_tokens(prompt), 5, 0.0, "counting")


class NoCache:
    def get(self, key: str) -> Completion | None:
        return None

    def put(self, key: str, completion: Completion) -> None:
        pass


def many_orders(count: int = 30) -> Problem:
    """Two vehicles and `count` orders on a line, order i due at 100 + 10 i s (o0 the most urgent)."""
    points = [PlanePoint(x=0, y=0), PlanePoint(x=100, y=0), *(PlanePoint(x=i, y=1) for i in range(count))]
    matrix = StraightLineTravel().matrix(points, [])
    stops = tuple(Stop(order_id=f"o{i}", location=i + 2, demand=1, window_start=0, window_end=100 + 10 * i,
                       service_s=5) for i in range(count))
    vehicles = (Vehicle("west", start=0, end=None, capacity=50, available_from=0, shift_end=5000),
                Vehicle("east", start=1, end=None, capacity=50, available_from=0, shift_end=5000))
    return Problem(fleet_id="f", at=T0, locations=tuple(points), seconds=matrix.seconds, distance=matrix.distance,
                   stops=stops, vehicles=vehicles)


def test_prompt_that_fits_is_unchanged() -> None:
    """With room to spare the prompt is exactly the unsized one (request hashes and cached answers stay valid)."""
    problem, model = many_orders(), CountingModel(n_ctx=100_000)
    proposer = LlmProposer(model, max_tokens=256, max_orders=40)
    proposal = proposer.propose(problem)
    assert model.prompts == [proposer.prompt(problem)] and proposal.orders_shown == 30
    assert proposal.outcome == "ok" and proposal.prompt_tokens > 0 and proposal.failure is None


def test_small_context_shows_fewer_orders_most_urgent_first() -> None:
    """A context too small for all orders gets the most urgent ones that fit beside the whole answer budget."""
    problem, model = many_orders(), CountingModel(n_ctx=0)
    full = LlmProposer(model, max_tokens=256, max_orders=40).prompt(problem)
    model.n_ctx = model.count_tokens(full) // 2 + 256 + CHAT_OVERHEAD_TOKENS
    proposer = LlmProposer(model, max_tokens=256, max_orders=40)
    proposal = proposer.propose(problem)
    shown = proposal.orders_shown
    assert shown is not None and 0 < shown < 30
    sent = model.prompts[0]
    assert model.count_tokens(sent) + CHAT_OVERHEAD_TOKENS + 256 <= model.n_ctx
    assert sent == proposer.prompt(problem, prompt_stops(problem, 40)[:shown])
    assert f"Orders ({shown} most urgent of 30;" in sent and "- o0 at" in sent and "- o29 at" not in sent
    one_more = proposer.prompt(problem, prompt_stops(problem, 40)[:shown + 1])
    assert model.count_tokens(one_more) + CHAT_OVERHEAD_TOKENS + 256 > model.n_ctx, "the largest that fits"


def test_context_too_small_for_any_prompt_is_not_asked() -> None:
    """When not even the orderless prompt fits, the model is not asked and the reason names the setting."""
    model = CountingModel(n_ctx=300)
    proposer = LlmProposer(model, max_tokens=256)
    proposal = proposer.propose(many_orders())
    assert model.prompts == [] and proposal.plan is None and proposal.outcome == "context_exceeded"
    assert proposal.failure is not None and proposal.failure.startswith("context too small: prompt ")
    assert "> n_ctx 300" in proposal.failure and "ENGINE_LLM__N_CTX" in proposal.failure
    assert proposer.check_context() is not None
    assert LlmProposer(CountingModel(n_ctx=4096), max_tokens=256).check_context() is None


def test_overflow_counts_the_whole_answer_budget() -> None:
    """Prompt and answer budget together must fit: equal is fine, one more token is not."""
    assert overflow(3000, 1096, 4096) is None and overflow(3001, 1096, 4096) is not None
    assert overflow(10**6, 512, None) is None  # an unknown context is never cut to


def test_unopened_cache_sizes_by_estimate_and_configured_context() -> None:
    """A cache-only model (a backtest) sizes prompts by length against the configured n_ctx, opening nothing."""
    cached = CachedLanguageModel(NoCache(), "m", None, n_ctx=2048)
    assert cached.context_tokens == 2048 and cached.count_tokens("x" * 300) == estimate_tokens("x" * 300) == 100


def test_in_process_model_counts_exactly_and_names_an_overflow(tiny_granite: tuple[Path, Path]) -> None:
    """llama.cpp's tokenizer gives the exact count; a prompt past n_ctx fails as context_exceeded with both sizes."""
    with LlamaCppModel(tiny_granite[1], n_ctx=256) as model:
        assert model.context_tokens == 256
        text = "Assign orders to vans. " * 20
        assert model.count_tokens(text) == len(model._llama.tokenize(text.encode(), add_bos=False))  # type: ignore[union-attr]
        with pytest.raises(LlmRequestError, match=r"context too small: prompt \d+ tokens > n_ctx 256") as info:
            model.complete_json(text * 2, {"type": "object"}, max_tokens=8)
        assert info.value.kind == "context_exceeded"
