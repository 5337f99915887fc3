"""The examples run as a user would run them: examples/relay_from_python.py plays two
rounds of the wine task with four in-process participants, and both rounds accept a
model (its other examples, the iris task and the relay folders, are run by
test_task.py and test_readme.py)."""

import examples.relay_from_python as relay_from_python


def test_the_python_relay_example_accepts_a_model_every_round():
    accepted = relay_from_python.main(rounds=2)
    assert [len(models) >= 1 for models in accepted] == [True, True]
    assert all(e["score"] > 500_000 for models in accepted for e in models)  # balanced accuracy above 0.5
