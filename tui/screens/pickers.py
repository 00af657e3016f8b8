"""The experiment picker several views share."""

from __future__ import annotations

from textual.widgets import Select


def experiment_options(experiments: list[dict]) -> list[tuple[str, int]]:
    return [(f"#{e['experiment_id']} {e['name']} ({_runs(e)} runs, {e['status']})",
             e["experiment_id"]) for e in experiments]


def pick_default(experiments: list[dict], current: int | None,
                 prefer_presets: tuple[str, ...], waiting: frozenset[int] = frozenset()
                 ) -> int | None:
    """The app's current experiment if it has runs, else the newest of a fitting preset.
    waiting: experiments that count as having runs before their first is stored (a sweep
    just queued: the view fills in as it trains)."""
    ids = {e["experiment_id"] for e in experiments
           if e["n_runs"] or e["experiment_id"] in waiting}
    if current in ids:
        return current
    for e in experiments:  # newest first
        if e["experiment_id"] in ids and (e.get("preset") or "") in prefer_presets:
            return e["experiment_id"]
    return next((e["experiment_id"] for e in experiments if e["experiment_id"] in ids), None)


def state(e: dict | None) -> str:
    """An experiment's status and stored runs, as the picker and the titles say them."""
    return "" if e is None else f"{e['status']}, {_runs(e)} runs"


def fill(select: Select, experiments: list[dict], value: int | None) -> None:
    if select.expanded:  # the user is choosing: new options would close the list
        return
    with select.prevent(Select.Changed):
        select.set_options(experiment_options(experiments))
        if value is not None:
            select.value = value


def _runs(e: dict) -> str:
    """Stored runs, and of how many while an experiment is partly stored."""
    planned = e.get("n_planned")
    return f"{e['n_runs']}/{planned}" if planned and planned != e["n_runs"] else str(e["n_runs"])
