"""Whole relays of the built-in tasks, every participant its own OS process
(`derelayl demo`): each round accepts models, and the best accepted model beats the
genesis on the held-out set that no participant sees, in the task's own metric."""

import json

import pytest

from derelayl.demo import DemoConfig, run_demo


# The tabular task ("wine") plays the same relay from the installed wheel
# (tests/sdk/test_install.py), with these assertions: once is enough.
@pytest.mark.parametrize("task, epochs", [("digits-mlp", 5)])
def test_a_relay_of_a_builtin_task_accepts_models_every_round(tmp_path, task, epochs):
    record = run_demo(DemoConfig(trainers=4, evaluators=2, rounds=2, task=task, epochs=epochs, out=tmp_path,
                                 json_path=tmp_path / "run.json"), echo=lambda line: None, progress=False)
    assert json.loads((tmp_path / "run.json").read_text())["task"] == task
    assert [len(r["accepted"]) >= 1 for r in record["rounds"]] == [True, True]
    genesis = record["reference"]["genesis"]
    best = record["rounds"][-1]["best_holdout_accuracy"]
    assert best is not None and best > genesis + 0.3, (genesis, best)
    for name in ("accuracy.png", "balances.png", "lineage.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_a_merge_relay_demo_starts_each_round_from_the_whole_layer_before(tmp_path):
    """`derelayl demo --merge-horizon 10`: every participant its own process on a merge
    relay. Round 1 starts from every model round 0 accepted, and the merge of each
    round's accepted models is measured on the held-out set, well above the genesis."""
    record = run_demo(DemoConfig(trainers=4, evaluators=2, rounds=2, epochs=5, merge_horizon=10, out=tmp_path),
                      echo=lambda line: None, progress=False)
    first, second = record["rounds"]
    assert first["accepted"] and second["accepted"], record["rounds"]
    assert first["parent_models"] == [0]
    assert second["parent_models"] == [a["model_id"] for a in first["accepted"]]
    genesis = record["reference"]["genesis"]
    assert second["merged_holdout_accuracy"] > genesis + 0.3, (genesis, second)
    assert record["summary"]["no_missed_phase"], record["summary"]
    assert (tmp_path / "lineage.png").stat().st_size > 10_000
