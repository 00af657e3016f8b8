"""The experiment picker several views share."""

from __future__ import annotations

from textual.widgets import Select


def experiment_options(experiments: list[dict]) -> list[tuple[str, int]]:
    return [(f"#{e['experiment_id']} {e['name']} ({_runs(e)} runs, {e['status']})",
             e["experiment_id"]) for e in experiments]


def pick_default(experiments: list[dict], current: int | None,
                 prefer_presets: tuple[str, ...]) -> int | None:
    """The app's current experiment if it has runs, else the newest of a fitting preset."""
    ids = {e["experiment_id"] for e in experiments if e["n_runs"]}
    if current in ids:
        return current
    for e in experiments:  # newest first
        if e["n_runs"] and (e.get("preset") or "") in prefer_presets:
            return e["experiment_id"]
    return next((e["experiment_id"] for e in experiments if e["n_runs"]), None)


def fill(select: Select, experiments: list[dict], value: int | None) -> None:
    with select.prevent(Select.Changed):
        select.set_options(experiment_options(experiments))
        if value is not None:
            select.value = value


def _runs(e: dict) -> str:
    """Stored runs, and of how many while an experiment is partly stored."""
    planned = e.get("n_planned")
    return f"{e['n_runs']}/{planned}" if planned and planned != e["n_runs"] else str(e["n_runs"])
