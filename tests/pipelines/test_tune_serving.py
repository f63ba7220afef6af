"""tune_serving's choice rule: the best objective on the val photos, ties to the earliest grid point."""

from __future__ import annotations

import pytest

from pipelines.tune_serving import choose


def test_the_best_point_wins_and_ties_go_to_the_earliest():
    assert choose([0.80, 0.85, 0.83], higher_is_better=True) == 1
    assert choose([0.85, 0.80, 0.85], higher_is_better=True) == 0  # the default is listed first
    assert choose([0.20, 0.15, 0.15], higher_is_better=False) == 1  # an error: lower wins
    assert choose([0.849, 0.850], higher_is_better=True, tie_tolerance=0.002) == 0
    assert choose([None, 0.5], higher_is_better=True) == 1


def test_no_figure_at_all_is_an_error():
    with pytest.raises(ValueError, match="no grid point"):
        choose([None, None], higher_is_better=True)
