"""Queueing from the TUI: a preset (or the New experiment form's config), and with the form's
toggle its seed control right after it (the same config with other seeds, named "<name>
(control of N)" as `moelab queue --control` names it: engine/control.py)."""

from __future__ import annotations

from .fetch import Fetched, fetch, one_line


def submit_preset(app, preset: str, quick: bool, raw: dict | None = None,
                  name: str | None = None, control: dict | None = None) -> None:
    """Queue in a thread; the app gets Fetched("submitted", id or (id, control id, error))."""
    from moelab.engine.control import control_name
    from moelab.engine.presets import get
    raw = raw if raw is not None else get(preset).raw(quick)
    name = name or (preset + (" --quick" if quick else ""))

    def work():
        eid = app.lab.call("submit", raw, preset=preset, quick=quick, name=name)
        if control is None:
            return eid
        try:  # the original is queued either way: say so if its control is not
            ctrl = app.lab.call("submit", control, preset=preset, quick=quick,
                                name=control_name(name, eid))
        except Exception as err:
            return eid, None, one_line(err)
        return eid, ctrl, None
    fetch(app, "submitted", work, exclusive=False)


def on_submitted(app, message: Fetched) -> None:
    if message.error:
        app.notify(message.error, severity="error", timeout=8)
        return
    eid, ctrl, error = (message.value if isinstance(message.value, tuple)
                        else (message.value, None, None))
    if error:
        app.notify(f"queued experiment {eid}, but not its seed control: {error}",
                   severity="error", timeout=10)
    elif ctrl is not None:
        app.notify(f"queued experiment {eid} and {ctrl}, its seed control (the same config, "
                   "other seeds); they show in Runs (1), and Compare (7) reads the noise")
    else:
        app.notify(f"queued experiment {eid}; it shows in Runs (1)")
    app.current_experiment = eid
    app.poll_status()
    app.data_changed(eid)
