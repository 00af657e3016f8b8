"""Each REPORT verdict on constructed inputs: where it must agree, where it must differ, and
where one outlying sample must not decide it (issue 12)."""

import pytest

from moelab.figures import verdicts as V


def test_counts_comparable_takes_the_papers_own_gap_as_comparable():
    v = V.counts_comparable([11, 11, 10, 11, 11], {"E=2": [8, 8, 9, 8, 8]})  # 11 vs 8
    assert v.word == V.AGREES and "ratio 0.76" in v.detail and "[0.7, 1.3]" in v.measure
    assert V.counts_comparable([11, 11, 10], {"E=2": [4, 5, 4]}).word == V.DIFFERS


def test_counts_comparable_does_not_rest_on_one_seed():
    v = V.counts_comparable([10, 10, 10, 10], {"E=2": [5, 5, 5, 25]})  # one seed lifts it
    assert v.word == V.PARTLY and "left-out" in v.detail


def test_more_than():
    assert V.more_than([3, 4, 3], {"E=2": [8, 9, 7]}, "pairs").word == V.AGREES
    assert V.more_than([8, 9, 7], {"E=2": [3, 4, 3]}, "pairs").word == V.DIFFERS
    assert V.more_than([5, 5, 5], {"E=2": [2, 2, 14]}, "pairs").word == V.PARTLY


def test_packing():
    assert V.packing({"dense": [5.9, 6.0, 6.1]}, {"dense": 6}).word == V.AGREES
    assert V.packing({"dense": [4.0, 4.2, 4.1]}, {"dense": 6}).word == V.DIFFERS


def test_bluer_compares_the_colour_of_represented_cells():
    red, blue = [0.8, 0.9, 0.7, 0.85], [0.1, 0.2, 0.15, 0.05]
    assert V.bluer({"A": red, "B": red}, {"A": blue, "B": blue}).word == V.AGREES
    assert V.bluer({"A": blue, "B": blue}, {"A": red, "B": red}).word == V.DIFFERS
    assert V.bluer({"A": red, "B": blue}, {"A": blue, "B": red}).word == V.PARTLY
    # one extreme cell may not decide it
    assert V.bluer({"A": [0.5] * 5}, {"A": [0.4] * 4 + [1.0]}).word == V.PARTLY


def test_continuous_counts_intermediate_norms_absolutely():
    step = [0.0] * 10 + [1.0] * 10  # a discrete jump
    ramp = [i / 19 for i in range(20)]  # gradual
    assert V.continuous({"A": step}, {"A": ramp}).word == V.AGREES
    assert V.continuous({"A": ramp}, {"A": step}).word == V.DIFFERS
    # one extreme cell (a huge norm) changes no threshold: still agrees
    assert V.continuous({"A": step + [50.0]}, {"A": ramp}).word == V.AGREES


def test_share_at_least():
    assert V.share_at_least([True] * 10, "x").word == V.AGREES
    assert V.share_at_least([True] * 2 + [False] * 8, "x").word == V.DIFFERS
    assert V.share_at_least([True] * 6 + [False] * 4, "x").word == V.PARTLY
    assert V.share_at_least([True] * 9 + [False], "x", agree=0.9).word == V.PARTLY  # on the edge


def test_rising_usage_with_monosemantic_features():
    up = {0: [0.1] * 5, 1: [0.2, 0.25, 0.22], 2: [0.4, 0.45, 0.5], 3: [0.6, 0.62, 0.58]}
    flat = {1: [0.24, 0.25, 0.23], 2: [0.22, 0.23, 0.22], 3: [0.21, 0.2, 0.22]}
    assert V.rising(up, "usage").word == V.AGREES
    assert V.rising(flat, "usage").word == V.DIFFERS
    outlier = {1: [0.2, 0.2, 0.2, 0.2], 2: [0.1, 0.1, 0.1, 0.9]}  # one expert makes the rise
    assert V.rising(outlier, "usage").word == V.PARTLY
    assert V.rising({1: [0.2], 2: [0.5]}, "usage").word == V.PARTLY  # too few experts


def test_pm_shows_mean_and_interval():
    assert V.pm([1.0]) == "1 (n = 1)"
    assert V.pm([1.0, 3.0]).startswith("2 ± 13") and "(n = 2)" in V.pm([1.0, 3.0])


@pytest.mark.parametrize("verdict", [
    V.counts_comparable([10, 10], {"E=2": [8, 8]}), V.more_than([1], {"x": [2]}, "m"),
    V.share_at_least([True], "m")])
def test_every_verdict_names_its_measure(verdict):
    assert verdict.text().startswith(verdict.word + ": ") and "(measure: " in verdict.text()


def test_near_a_share_the_paper_reports():
    assert V.near([True] * 46 + [False] * 54, 0.46, "x").word == V.AGREES
    assert V.near([True] * 60 + [False] * 40, 0.46, "x").word == V.DIFFERS
    assert "paper 46%" in V.near([True] * 60 + [False] * 40, 0.46, "x").detail


def test_stable_cells():
    assert V.stable_cells({"A E=1": 0.0, "B E=3": 0.05}).word == V.AGREES
    assert V.stable_cells({"A E=1": 0.0, "B E=3": 0.7}).word == V.DIFFERS
