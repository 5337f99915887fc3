"""The run figures (derelayl.plots) drawn from synthetic run records: files written,
sized, labelled, and the best model marked. Pure logic: no chain, no IPFS."""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import pytest

from derelayl.plots import participant_names, plot_accuracy, plot_all, plot_balances, plot_lineage


def synthetic_record(rounds: int = 4, trainers: int = 6, evaluators: int = 2, seed: int = 0) -> dict[str, Any]:
    """A run record shaped like `derelayl demo`'s: each round the owners of the last
    round's accepted models (at most 4) hand them to trainers; about half the
    submissions are accepted; evaluators hold about 100 tokens, two of them equal."""
    rng = random.Random(seed)
    people = [("trainer", f"0x{i:040x}") for i in range(trainers)]
    people += [("evaluator", f"0x{trainers + i:040x}") for i in range(evaluators)]
    record: dict[str, Any] = {"participants": [{"address": a, "role": r, "pid": 1000 + i}
                                               for i, (r, a) in enumerate(people)], "rounds": []}
    trainer_addresses = [a for r, a in people if r == "trainer"]
    owners, next_id, accuracy = [0], 1, 0.78
    tokens = {a: (100.0 if r == "evaluator" else 0.0) for r, a in people}
    for r in range(rounds):
        accepted = []
        for trainer in rng.sample(trainer_addresses, k=min(len(trainer_addresses), 2 * len(owners) + 1)):
            if rng.random() < 0.55:
                accepted.append({"model_id": next_id, "parent_id": rng.choice(owners), "trainer": trainer,
                                 "score": round(rng.uniform(0.7, 0.97), 4)})
                tokens[trainer] += round(rng.uniform(0.5, 3), 2)
            next_id += 1
        if accepted:
            owners = [a["model_id"] for a in sorted(accepted, key=lambda a: -a["score"])[:4]]
            accuracy = min(0.97, accuracy + rng.uniform(-0.01, 0.04))
        for i, (role, address) in enumerate(people):
            if role == "evaluator":
                tokens[address] += 0.0 if i == len(people) - 1 else 0.6
        if evaluators >= 2:  # the last two evaluators end each round equal, as in the demo
            tokens[people[-1][1]] = tokens[people[-2][1]]
        record["rounds"].append({"round": r, "accepted": accepted,
                                 "best_holdout_accuracy": round(accuracy, 3) if accepted else None,
                                 "balances": dict(tokens)})
    return record


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture
def record() -> dict[str, Any]:
    return synthetic_record()


def test_accuracy_plot_labels_every_measured_round_and_the_references(record, tmp_path):
    result = plot_accuracy(record, tmp_path / "a.png", genesis_accuracy=0.31, centralized_accuracy=0.97)
    width, height = png_size(result.path)
    assert width >= 600 and height >= 400 and result.path.stat().st_size > 10_000
    measured = [row["best_holdout_accuracy"] for row in record["rounds"] if row["best_holdout_accuracy"] is not None]
    assert [f"{v:.3f}" for v in measured] == list(result.texts[:len(measured)])
    assert "genesis model 0.310" in result.texts and "centralized training 0.970" in result.texts


def test_accuracy_plot_leaves_a_gap_for_a_round_without_accepted_models(record, tmp_path):
    record["rounds"][1]["accepted"], record["rounds"][1]["best_holdout_accuracy"] = [], None
    result = plot_accuracy(record, tmp_path / "a.png")
    assert "none accepted" in result.texts and result.path.stat().st_size > 10_000


def test_balances_plot_lists_every_participant_in_its_own_panel(record, tmp_path):
    result = plot_balances(record, tmp_path / "b.png")
    width, _ = png_size(result.path)
    assert width >= 1200  # two panels
    names = participant_names(record)
    assert sorted(t.split(":")[0] for t in result.texts) == sorted(names.values())
    trainers = [t for t in result.texts if t.startswith("trainer")]
    assert result.texts[:len(trainers)] == tuple(trainers)  # the trainers' panel first
    finals = [float(t.split(": ")[1]) for t in trainers]
    assert finals == sorted(finals, reverse=True)  # legend in the order the lines end


def test_lineage_plot_labels_every_model_and_stars_the_most_accurate(record, tmp_path):
    result = plot_lineage(record, tmp_path / "l.png")
    assert png_size(result.path)[0] >= 600 and result.path.stat().st_size > 10_000
    models = {a["model_id"]: (row["round"], a) for row in record["rounds"] for a in row["accepted"]}
    assert result.texts[0] == "genesis" and len(result.texts) == len(models) + 1
    names = participant_names(record)
    for model_id, (r, a) in models.items():
        assert f"#{model_id} {names[a['trainer']]}\nr{r} · {a['score']:.3f}" in result.texts
    measured = [(row["best_holdout_accuracy"], row["round"], max(row["accepted"], key=lambda a: a["score"])["model_id"])
                for row in record["rounds"] if row["accepted"]]
    assert result.best_model_id == max(measured)[2]
    assert result.caption.startswith(f"★ best model: #{result.best_model_id} ")


def test_lineage_plot_marks_the_model_it_is_given(record, tmp_path):
    result = plot_lineage(record, tmp_path / "l.png", best_model_id=1)
    assert result.best_model_id == 1 and "#1 by" in result.caption


def test_lineage_plot_of_a_run_that_accepted_nothing(tmp_path):
    record = {"rounds": [{"round": 0, "accepted": [], "best_holdout_accuracy": None, "balances": {"0xa": 1.0}}]}
    result = plot_lineage(record, tmp_path / "l.png")
    assert result.best_model_id is None and result.texts == ("genesis",) and result.path.exists()


def test_plot_all_writes_the_three_figures_of_a_large_run(tmp_path):
    plots = plot_all(synthetic_record(rounds=10, trainers=16, evaluators=2, seed=3), tmp_path)
    assert {p.path.name for p in plots.values()} == {"accuracy.png", "balances.png", "lineage.png"}
    assert all(p.path.stat().st_size > 10_000 for p in plots.values())


def merge_record() -> dict[str, Any]:
    """A merge relay's record: round 0 accepts two children of the genesis, round 1
    accepts nothing, round 2 three children of that layer, with their merges measured."""
    t = [f"0x{i:040x}" for i in range(4)]
    accepted = [[(1, t[0], 0.71), (2, t[1], 0.74)], [], [(3, t[2], 0.86), (4, t[3], 0.83), (5, t[0], 0.88)]]
    rounds = [{"round": r, "accepted": [{"model_id": m, "parent_id": parents[0], "trainer": a, "score": s}
                                        for m, a, s in models],
               "best_holdout_accuracy": max((s for *_, s in models), default=None),
               "merged_holdout_accuracy": 0.9 if models else None, "parent_models": parents,
               "balances": {a: 1.0 for a in t}}
              for r, (models, parents) in enumerate(zip(accepted, [[0], [1, 2], [1, 2]]))]
    return {"participants": [{"address": a, "role": "trainer", "pid": i} for i, a in enumerate(t)], "rounds": rounds}


def test_a_merge_relay_draws_layers_and_the_merge_of_each_round(tmp_path):
    """`plot_all` draws a merge relay's lineage by layer (each layer descending from
    the whole layer before it), and the merge of each round's accepted models beside
    the best of them."""
    plots = plot_all(merge_record(), tmp_path)
    lineage = plots["lineage"]
    assert lineage.texts == ("genesis", "#1 trainer0\nr0 · 0.710", "#2 trainer1\nr0 · 0.740",
                             "#3 trainer2\nr2 · 0.860", "#4 trainer3\nr2 · 0.830", "#5 trainer0\nr2 · 0.880")
    assert lineage.best_model_id == 5  # the most accurate measured, the latest on a tie
    width, _ = png_size(lineage.path)
    assert width >= 500
    # Each round's two values are labelled on their own sides: 0.740 under 0.900, 0.880 under 0.900.
    assert plots["accuracy"].texts.count("0.900") == 2 and "0.740" in plots["accuracy"].texts
