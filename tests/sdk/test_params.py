"""The deployment defaults are safe on a public chain; tests opt into instant phases."""

from derelayl import DEFAULT_PARAMS, SAFE_DURATIONS, SCORE_SCALE, TEST_PARAMS
from derelayl.params import INSTANT_DURATIONS


def test_default_durations_are_the_safe_ones():
    """Class 1 (issue 17). Before: every default duration was 0, so on any chain an
    outsider could close each phase the moment it opened, for gas only."""
    assert DEFAULT_PARAMS.short_durations() == []
    for name, seconds in SAFE_DURATIONS.items():
        assert getattr(DEFAULT_PARAMS, name) == seconds > 0
    assert DEFAULT_PARAMS.training_duration >= 4 * DEFAULT_PARAMS.bidding_duration  # a turn of training


def test_short_durations_names_every_phase_under_the_minimum():
    assert TEST_PARAMS.short_durations() == list(SAFE_DURATIONS)
    assert all(getattr(TEST_PARAMS, name) == 0 for name in INSTANT_DURATIONS)
    assert DEFAULT_PARAMS.replace(commit_duration=599).short_durations() == ["commit_duration"]
    assert TEST_PARAMS.short_durations({"reveal_duration": 0}) == []
    # TEST_PARAMS: instant phases, free offers, no acceptance floor and no fallback (issue 17)
    assert DEFAULT_PARAMS.instant().replace(min_price=0, score_floor=0, floor_margin=SCORE_SCALE,
                                            fallback_rounds=0) == TEST_PARAMS
    assert DEFAULT_PARAMS.min_price > 0 and DEFAULT_PARAMS.score_floor > 0
