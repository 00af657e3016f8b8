"""Issue 20 item 11: exported titles without key hints and inside the canvas, `moelab status |
head` without a traceback, the running line before a unit's first step, no experiment both
running and done, and an ETA that a late slow unit start does not throw."""

from __future__ import annotations

import subprocess
import sys

import pytest

from moelab.figures.screen import draw, export_title

HINTED = ("phase diagrams: experiment 12 fig4 --quick, lb_coef = 0 · final weights (, . step "
          "through 8 snapshots) · best of 2 seeds per point · colour: paper (SPEC) with a key")


def test_export_titles_drop_key_hints_and_stay_on_the_canvas():
    assert "step through" not in export_title(HINTED, 10, 8)
    assert export_title("at training step 30 (snapshot 2 of 8; , earlier · . later, past the "
                        "last: final)", 10, 8) == "at training step 30 (snapshot 2 of 8)"
    fig = draw({"title": HINTED, "panels": [{"type": "grid", "title": "4.A expert 0 of 1 " * 4,
                                             "colours": [["#ff0000"]], "row": 0}]})
    fig.canvas.draw()
    box = fig.bbox
    for text in [fig._suptitle] + [ax.title for ax in fig.axes]:
        ext = text.get_window_extent()
        assert box.x0 - 1 <= ext.x0 and ext.x1 <= box.x1 + 1, text.get_text()
    assert "step through" not in fig._suptitle.get_text()


def test_status_into_a_closed_pipe_ends_quietly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "moelab.cli", "status", "--db",
                             str(tmp_path / "lab.duckdb")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # `| head` that has already gone
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and "Traceback" not in err and "Broken" not in err, err


RUNNING = {"experiment_id": 3, "name": "fig4", "work_done": 10, "work_total": 100,
           "batch": 2, "n_batches": 5, "step": 0, "steps": 0, "loss": None, "models_done": 4,
           "n_models": 10, "eta_seconds": 12.0, "device": "cpu"}


def test_before_a_units_first_step_the_line_says_it_is_starting():
    from moelab.cmd_service import running_line as cli_line
    from moelab.tui.format import running_line as tui_line
    for line in (tui_line(RUNNING), cli_line(RUNNING)):
        assert "step 0/0" not in line and "∅" not in line and "starting" in line, line
    assert "step 5/50" in tui_line({**RUNNING, "step": 5, "steps": 50, "loss": 0.1})


def test_a_job_whose_units_are_all_stored_is_not_running():
    from moelab.engine.service.scheduler import Job, Scheduler
    sched = Scheduler(service=None)
    sched.job = Job(1, "x", "{}", n_models=2, n_units=2, units_stored=2)
    assert sched.snapshot() is None  # the store already reads it done


def test_a_slow_unit_start_late_in_a_long_experiment_barely_moves_the_eta(monkeypatch):
    from moelab.engine.executors.base import UnitProgress
    from moelab.engine.service import scheduler
    clock = [0.0]
    monkeypatch.setattr(scheduler.time, "monotonic", lambda: clock[0])
    job = scheduler.Job(1, "x", "{}", n_models=1, work_total=4000)
    for t in range(0, 201):  # 200 s at 10 instance-steps a second
        clock[0] = float(t)
        job.record(UnitProgress(0, 10 * t, 10_000, 1, 0.1, "cpu"))
    for t in range(201, 231):  # then 30 s at 2 a second (a unit starting)
        clock[0] = float(t)
        job.record(UnitProgress(0, 2000 + 2 * (t - 200), 10_000, 1, 0.1, "cpu"))
    # the rate over the later half (t 115..230): (2060 - 1150) / 115 s; the last 30 s alone
    # (2 a second) would say 970 s
    assert job.eta_seconds() == pytest.approx((4000 - 2060) * 115 / 910, rel=0.02)
