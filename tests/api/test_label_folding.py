"""``StickyTopN``: record-valued labels capped at a sticky top N, every exposed counter monotonic."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from ai_usage_monitor.exporter.prometheus import OTHER, Promotions, StickyTopN

Rows = dict[tuple[str, ...], tuple[float, ...]]


def _rows(costs: Mapping[str, float], model: str = "qwen-plus") -> Rows:
    """One raw row per user: (model, user) → (requests, cost)."""
    return {(model, user): (cost * 10, cost) for user, cost in costs.items()}


def _sum(exposed: Mapping[tuple[str, ...], list[float]]) -> list[float]:
    return [sum(values[i] for values in exposed.values()) for i in range(2)]


def test_first_fold_labels_the_top_n_with_their_full_totals() -> None:
    folder = StickyTopN(["user_id"], 2, rank_index=1)
    exposed = folder.fold(_rows({"a": 5.0, "b": 3.0, "c": 1.0, "d": 0.5}), [1])
    assert exposed == {
        ("qwen-plus", "a"): [50.0, 5.0],
        ("qwen-plus", "b"): [30.0, 3.0],
        ("qwen-plus", OTHER): [15.0, 1.5],
    }


def test_empty_values_are_never_folded() -> None:
    folder = StickyTopN(["user_id"], 1, rank_index=1)
    exposed = folder.fold(_rows({"a": 5.0, "": 9.0, "b": 1.0}), [1])
    assert set(exposed) == {("qwen-plus", "a"), ("qwen-plus", ""), ("qwen-plus", OTHER)}


def test_counters_never_decrease_when_the_top_n_changes() -> None:
    folder = StickyTopN(["user_id"], 2, rank_index=1)
    history = [
        {"a": 5.0, "b": 3.0, "c": 1.0},
        {"a": 5.0, "b": 3.0, "c": 4.0},  # c overtakes b: c gets a label, b keeps its own
        {"a": 5.0, "b": 3.5, "c": 9.0, "d": 0.1},
        {"a": 5.0, "b": 3.5, "c": 9.0, "d": 20.0, "e": 30.0},  # capacity 4: d and e compete for one slot
        {"a": 6.0, "b": 3.5, "c": 9.0, "d": 21.0, "e": 31.0, "f": 50.0},
    ]
    last: dict[tuple[str, ...], list[float]] = {}
    for costs in history:
        exposed = folder.fold(_rows(costs), [1])
        for key, values in last.items():
            assert key in exposed, key  # a series never disappears while the server runs
            assert all(new >= old - 1e-12 for new, old in zip(exposed[key], values, strict=True)), key
        total_cost = sum(costs.values())
        assert _sum(exposed) == pytest.approx([total_cost * 10, total_cost])
        last = exposed
    labelled = {key[1] for key in last} - {OTHER}
    assert len(labelled) == 4  # 2 × top N at most
    assert labelled == {"a", "b", "c", "e"}
    # c was promoted at the second fold with 4.0 used, e at the fourth with 30.0: what they had used by
    # then stays counted in "other", together with d and f, which found no free slot
    assert last[("qwen-plus", "c")][1] == 9.0 - 4.0
    assert last[("qwen-plus", "e")][1] == 31.0 - 30.0
    assert last[("qwen-plus", OTHER)][1] == 4.0 + 30.0 + 21.0 + 50.0


def test_two_dimensions_fold_independently() -> None:
    folder = StickyTopN(["user_id", "anchor_id"], 1, rank_index=1)
    rows: Rows = {
        ("m", "u1", "a1"): (1.0, 5.0),
        ("m", "u2", "a1"): (1.0, 1.0),
        ("m", "u2", "a2"): (1.0, 2.0),
    }
    exposed = folder.fold(rows, [1, 2])
    assert exposed == {
        ("m", "u1", "a1"): [1.0, 5.0],
        ("m", OTHER, "a1"): [1.0, 1.0],
        ("m", OTHER, OTHER): [1.0, 2.0],
    }
    rows[("m", "u2", "a2")] = (2.0, 20.0)  # u2 and a2 become the top: both promoted
    again = folder.fold(rows, [1, 2])
    # promoted rows start their own series at zero; their totals so far stay where they were counted
    assert again == {
        ("m", "u1", "a1"): [1.0, 5.0],
        ("m", OTHER, "a1"): [1.0, 1.0],
        ("m", OTHER, OTHER): [2.0, 20.0],
        ("m", "u2", "a1"): [0.0, 0.0],
        ("m", "u2", "a2"): [0.0, 0.0],
    }
    rows[("m", "u2", "a2")] = (3.0, 23.0)
    third = folder.fold(rows, [1, 2])
    assert third[("m", "u2", "a2")] == [1.0, 3.0]
    assert sum(v[1] for v in third.values()) == 5.0 + 1.0 + 23.0


def test_a_family_following_shared_promotions_stays_monotonic() -> None:
    """The histograms label the models the counters rank: a model promoted there moves here too, and
    what it had counted here stays in ``other``."""
    shared = Promotions(1)
    counters = StickyTopN(["model"], 1, rank_index=1, promotions=shared)
    histogram = StickyTopN(["model"], 1, rank_index=0, promotions=shared, ranks=())
    costs = {"a": 5.0, "b": 1.0}
    counts: Rows = {("a",): (2.0, 2.0), ("b",): (3.0, 3.0)}
    counters.fold({(m,): (1.0, c) for m, c in costs.items()}, [0])
    first = histogram.fold(counts, [0])
    assert first == {("a",): [2.0, 2.0], (OTHER,): [3.0, 3.0]}  # b is not ranked by the histogram itself
    costs["b"] = 9.0  # b now leads the counters' ranking: promoted for every family sharing it
    counters.fold({(m,): (1.0, c) for m, c in costs.items()}, [0])
    counts[("b",)] = (4.0, 4.0)
    second = histogram.fold(counts, [0])
    # promoted at this fold: its count so far stays in "other", its own series starts at zero
    assert second == {("a",): [2.0, 2.0], (OTHER,): [4.0, 4.0], ("b",): [0.0, 0.0]}
    counts[("b",)] = (6.0, 6.0)
    assert histogram.fold(counts, [0]) == {("a",): [2.0, 2.0], (OTHER,): [4.0, 4.0], ("b",): [2.0, 2.0]}
    assert shared.of("model") == {"a", "b"}


def test_summed_values_do_not_move_with_the_order_of_the_sum() -> None:
    """A counter lower by the last bits reads as a reset to Prometheus: sums are exposed at 9 decimals."""
    from ai_usage_monitor.exporter.prometheus import _steady

    forward, backward = 0.1 + 0.2 + 0.3, 0.3 + 0.2 + 0.1
    assert forward > backward  # 0.6000000000000001 and 0.6
    assert _steady(forward) == _steady(backward) == 0.6
    assert _steady(None) == 0.0
