"""A whole relay of a built-in task from the checkout, every participant its own OS
process (`derelayl demo`): each round accepts models, and the best accepted model
beats the genesis on the held-out set that no participant sees, in the task's own
metric.

The suite plays each kind of relay once: the plain relay of the tabular task from the
installed wheel (tests/sdk/test_install.py), the README's own relay of the iris example
(tests/sdk/test_readme.py), and here the merge relay of the digits task, which carries
the checks a plain relay of digits had (the record, the accuracy over the genesis, the
plots).
"""

import json

from derelayl.demo import DemoConfig, run_demo


def test_a_merge_relay_demo_starts_each_round_from_the_whole_layer_before(tmp_path):
    """`derelayl demo --merge-horizon 10` of digits-mlp: every participant its own
    process on a merge relay. Each round accepts models; round 1 starts from every model
    round 0 accepted; the best accepted model and the merge of each round's accepted
    models are measured on the held-out set, well above the genesis; the record and the
    three plots are written."""
    record = run_demo(DemoConfig(trainers=4, evaluators=2, rounds=2, task="digits-mlp", epochs=5, merge_horizon=10,
                                 out=tmp_path, json_path=tmp_path / "run.json"),
                      echo=lambda line: None, progress=False)
    assert json.loads((tmp_path / "run.json").read_text())["task"] == "digits-mlp"
    first, second = record["rounds"]
    assert first["accepted"] and second["accepted"], record["rounds"]
    assert first["parent_models"] == [0]
    assert second["parent_models"] == [a["model_id"] for a in first["accepted"]]
    genesis = record["reference"]["genesis"]
    assert second["best_holdout_accuracy"] > genesis + 0.3, (genesis, second)
    assert second["merged_holdout_accuracy"] > genesis + 0.3, (genesis, second)
    assert record["summary"]["no_missed_phase"], record["summary"]
    for name in ("accuracy.png", "balances.png", "lineage.png"):
        assert (tmp_path / name).stat().st_size > 10_000
