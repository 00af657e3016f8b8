"""The seed noise in the TUI (issue 20): the Compare view's verdicts per group against the
first (tui/noise_model.py, checked against hand-computed intervals), and the New experiment
form's seed-control switch."""

from __future__ import annotations

import math

import pytest
from test_tui_support import FakeClient, open_form, run_app_test, seeded_db, text, until

from moelab.tui import noise_model as nm
from moelab.tui.compare_model import Group
from moelab.tui.screens.compare import CompareScreen

pytestmark = pytest.mark.usefixtures("private_dirs")

# Three seeds 1.0, 1.2, 1.4: mean 1.2, sd 0.2, half-width t(2) · sd / √3 = 4.303 · 0.2 / √3.
HALF = 4.303 * 0.2 / math.sqrt(3)  # 0.49687…


def group(values, seeds=None, k=1, experiment=1) -> Group:
    seeds = seeds if seeds is not None else range(len(values))
    pairs = enumerate(zip(seeds, values, strict=True))
    return Group(f"k={k}", [{"run_id": i, "seed": s, "experiment_id": experiment,
                             "final_loss": v} for i, (s, v) in pairs])


def test_intervals_and_verdicts_against_a_hand_computation():
    a = group([1.0, 1.2, 1.4])
    mean, half, n = nm.group_interval(a, "final_loss")
    assert n == 3 and mean == pytest.approx(1.2) and half == pytest.approx(HALF, rel=1e-6)
    # 2.2 - 1.2 = 1.0 > 2 · 0.4969: the intervals [0.70, 1.70] and [1.70, 2.70] miss by 0.006.
    beyond = group([2.0, 2.2, 2.4])
    # 1.9 - 1.2 = 0.7 < 0.9937: they overlap.
    within = group([1.7, 1.9, 2.1])
    single = group([5.0])
    row = nm.verdict_row([a, beyond, within, single], "final_loss")
    assert row == [nm.ROW_LABEL, "—", nm.BEYOND, nm.WITHIN, nm.ONE_SEED]
    assert nm.BEYOND == "differs beyond seed noise" and nm.WITHIN == "within seed noise"
    # A hair closer and the intervals touch: within.
    assert nm.verdict_row([a, group([1.99, 2.19, 2.39])], "final_loss")[2] == nm.WITHIN
    # One seed first: nothing to measure against; runs repeating one seed are one seed.
    assert nm.verdict_row([single, a], "final_loss")[1:] == [nm.ONE_SEED, nm.ONE_SEED]
    assert nm.group_interval(group([1.0, 1.4], seeds=[0, 0]), "final_loss")[1:] == (0.0, 1)
    # No value at all: no verdict; missing values are left out of the interval.
    empty = Group("x", [{"run_id": 1, "seed": 0, "final_loss": None}])
    assert nm.verdict(nm.group_interval(empty, "final_loss"), (1.0, 0.1, 3)) == "∅"


def test_table_rows_put_a_verdict_under_each_final_metric_but_time():
    groups = [group([1.0, 1.2, 1.4]), group([2.0, 2.2, 2.4], k=2)]
    rows = [["model.k", "1", "2"], ["final_loss", "x", "y"], ["train_seconds", "x", "y"]]
    out = nm.table_rows(groups, rows)
    assert [r[0] for r in out] == ["model.k", "final_loss", nm.ROW_LABEL, "train_seconds"]
    assert nm.table_rows(groups[:1], rows) == rows  # one group: nothing to compare


def test_control_pairs_and_notes():
    controls = {1: [{"experiment_id": 7}, {"experiment_id": 9}], 3: []}
    assert nm.control_pairs([1, 3, 7], controls) == [(1, 7)]  # 9 is not marked
    pooled = [group([1.0, 1.2], experiment=1), group([1.1], seeds=[5], experiment=7)]
    pooled[0].runs.append({"run_id": 9, "seed": 4, "experiment_id": 7, "final_loss": 1.1})
    [note] = nm.control_notes(pooled, [(1, 7)])
    assert note.startswith("experiment 7 is the seed control of experiment 1")
    assert "group together" in note
    apart = [group([1.0], experiment=1), group([1.0], experiment=7)]
    assert "none of their marked runs share a config" in nm.control_notes(apart, [(1, 7)])[0]


# -- the view -----------------------------------------------------------------------------

def fake_runs(client, losses: list[list[float]], experiments=None):
    """compare_runs answering the marked runs as groups of seeds: group g gets model.k = g + 1
    (so groups differ in config) and the final losses given."""
    def read(run_ids):
        real = client.direct.read("compare_runs", run_ids=run_ids)
        out, i = [], 0
        for g, values in enumerate(losses):
            for s, v in enumerate(values):
                r = dict(real[i])  # one config for all (real runs differ by sweep point)
                cfg = {k: dict(v) for k, v in real[0]["config"].items()
                       if isinstance(v, dict)}
                cfg["model"]["k"] = g + 1
                cfg["train"]["seed"] = s
                exp = experiments[g][s] if experiments else r["experiment_id"]
                r.update(config=cfg, seed=s, final_loss=v, eval_loss=v, experiment_id=exp)
                out.append(r)
                i += 1
        return out
    return read


def open_compare(losses, experiments=None, controls=None):
    """Run the app with the first runs marked, answered as `losses`; yield the screen."""
    client = FakeClient(seeded_db())
    client.reads["compare_runs"] = fake_runs(client, losses, experiments)
    if controls is not None:
        client.reads["controls_of"] = lambda experiment_id: controls.get(experiment_id, [])
    n = sum(len(v) for v in losses)
    found = {}

    async def body(app, pilot):
        app.set_marks(set(range(1, n + 1)))
        await pilot.press("7")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.groups)
        screen = app.screen
        table = screen.query_one("#compare-table")
        found["rows"] = [[str(c) for c in table.get_row_at(i)]
                         for i in range(table.row_count)]
        found["panel"] = text(app, "#compare-noise")
        found["spec"] = screen.figure_spec()["panels"][1]["rows"]
        await pilot.press("g")  # each run on its own: no verdicts
        await until(pilot, lambda: len(screen.groups) == n)
        table = screen.query_one("#compare-table")
        found["ungrouped"] = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        found["ungrouped_panel"] = text(app, "#compare-noise")
    run_app_test(client, body, size=(140, 45))
    return found


def verdicts(found, metric="final_loss") -> list[str]:
    """The verdict row under a metric's row of the table."""
    rows = found["rows"]
    i = [r[0] for r in rows].index(metric)
    assert rows[i + 1][0] == nm.ROW_LABEL
    return rows[i + 1][1:]


def test_compare_view_two_groups_of_three_seeds_clearly_apart_differ_beyond_seed_noise():
    found = open_compare([[0.10, 0.11, 0.12], [0.30, 0.31, 0.32]])
    assert verdicts(found) == ["—", nm.BEYOND]
    assert verdicts(found, "eval_loss") == ["—", nm.BEYOND]
    assert "do not overlap" in found["panel"] and "differs beyond seed noise" in found["panel"]
    assert [nm.ROW_LABEL, "—", nm.BEYOND] in found["spec"]  # F3's table says the same
    assert nm.ROW_LABEL not in found["ungrouped"]
    assert "g groups runs by config" in found["ungrouped_panel"]


def test_compare_view_overlapping_groups_are_within_seed_noise():
    found = open_compare([[0.10, 0.20, 0.30], [0.15, 0.25, 0.35]])
    assert verdicts(found) == ["—", nm.WITHIN]


def test_compare_view_a_group_with_one_seed_has_no_noise_floor():
    found = open_compare([[0.10, 0.11, 0.12], [0.30]])
    assert verdicts(found) == ["—", nm.ONE_SEED]
    assert ("one seed: no noise floor (queue with --set train.seeds=N or --control)"
            in found["panel"].replace("\n", " "))


def test_compare_view_names_a_seed_control_among_the_marked_runs():
    # Group 1: experiment 1's seeds 0, 1 and its control 9's seed 2; group 2: experiment 1.
    found = open_compare([[0.10, 0.11, 0.12], [0.30, 0.31]],
                         experiments=[[1, 1, 9], [1, 1]],
                         controls={1: [{"experiment_id": 9, "name": "x (control of 1)"}]})
    panel = found["panel"].replace("\n", " ")
    assert "experiment 9 is the seed control of experiment 1" in panel
    assert "group together" in panel


# -- the form ---------------------------------------------------------------------------

def test_form_seed_control_switch_queues_the_experiment_and_its_control():
    client = FakeClient(seeded_db())

    async def body(app, pilot):
        screen = await open_form(app, pilot)
        assert "seed control" not in text(app, "#summary")
        screen.query_one("#control").value = True
        await until(pilot, lambda: "+ a seed control" in text(app, "#summary"))
        assert "seeds 2–3" in text(app, "#summary")  # fig4 --quick: seeds 0–1
        await until(pilot, lambda: "✓" in text(app, "#summary"), timeout=30)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(client.submitted) == 2, timeout=30)
        await until(pilot, lambda: any("102, its seed control" in str(n.message)
                                       for n in app._notifications))
    run_app_test(client, body, size=(120, 40))
    (raw, preset, quick, name), (ctrl, ctrl_preset, _, ctrl_name) = client.submitted
    assert ctrl_name == f"{name} (control of 101)" and name == "fig4 --quick"
    assert raw["train"].get("seed", 0) == 0 and ctrl["train"]["seed"] == 2
    assert {**ctrl, "train": {k: v for k, v in ctrl["train"].items() if k != "seed"}} == {
        **raw, "train": {k: v for k, v in raw["train"].items() if k != "seed"}}
    assert ctrl_preset == preset == "fig4"


def test_form_seed_control_of_a_config_sweeping_the_seed_queues_nothing():
    client = FakeClient(seeded_db())

    async def body(app, pilot):
        screen = await open_form(app, pilot)
        screen.variant_inputs[0].value += ", train.seed = 5"
        screen.query_one("#control").value = True
        await until(pilot, lambda: "sweeps the seed" in text(app, "#summary"), timeout=30)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: any("sweeps train.seed" in str(n.message)
                                       for n in app._notifications), timeout=30)
        await pilot.pause(0.5)
        assert client.submitted == []  # not even the experiment itself
    run_app_test(client, body, size=(120, 40))
