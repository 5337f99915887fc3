"""Whole relays of the built-in tasks, every participant its own OS process
(`derelayl demo`): each round accepts models, and the best accepted model beats the
genesis on the held-out set that no participant sees, in the task's own metric."""

import json

import pytest

from derelayl.demo import DemoConfig, run_demo


@pytest.mark.parametrize("task, epochs", [("digits-mlp", 5), ("wine", 20)])
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
