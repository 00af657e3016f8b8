"""What the Runs table shows: its columns, filter and sort, as one value that can be saved
by name (a "view") and sent to the lab as a read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rich.markup import escape
from rich.text import Text

from .format import bar

# The columns shown until the user chooses others (the runs view pages them with the
# runs_columns_page read, db/reads/columns.py).
DEFAULT_COLUMNS = (
    "run_id", "experiment_id", "kind", "n_features", "d_hidden", "n_experts", "k",
    "router_init", "sparsity", "last_importance", "seed", "chosen", "eval_loss", "fpd",
    "capacity", "lb_coef", "steps", "train_seconds", "device",
)


@dataclass
class RunsView:
    columns: list[str] = field(default_factory=lambda: list(DEFAULT_COLUMNS))
    where: str = ""
    order_by: str | None = "run_id"
    descending: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunsView:
        cols = [str(c) for c in d.get("columns") or DEFAULT_COLUMNS]
        order = d.get("order_by")
        return cls(cols, str(d.get("where") or ""), order if order in cols else None,
                   bool(d.get("descending")))

    def describe(self) -> str:
        sort = f"sorted by {self.order_by}{' desc' if self.descending else ''}" \
            if self.order_by else "unsorted"
        where = f" where {self.where}" if self.where else ""
        return f"{len(self.columns)} columns, {sort}{where}"

    def sort_by(self, column: str) -> None:
        if column == self.order_by:
            self.descending = not self.descending
        else:
            self.order_by, self.descending = column, False

    def hide(self, column: str) -> None:
        if column in self.columns and len(self.columns) > 1:
            self.columns.remove(column)
            if self.order_by == column:
                self.order_by = "run_id" if "run_id" in self.columns else None
                self.descending = False

    def move(self, column: str, delta: int) -> int:
        """Move a column left (-1) or right (+1); its new index."""
        i = self.columns.index(column)
        j = max(0, min(len(self.columns) - 1, i + delta))
        self.columns.insert(j, self.columns.pop(i))
        return j

    def set_columns(self, columns: list[str]) -> None:
        self.columns = list(columns)
        if self.order_by not in self.columns:
            self.order_by = "run_id" if "run_id" in self.columns else None
            self.descending = False

    def params(self, condition: str | None, offset: int, limit: int) -> dict:
        return dict(columns=list(self.columns), where=condition, order_by=self.order_by,
                    descending=self.descending, offset=offset, limit=limit)


# -- the experiments panel above the runs -------------------------------------------------
EXPERIMENT_COLUMNS = ("id", "name", "status", "progress", "runs", "device", "created")
NAME_MIN = 12  # an experiment's name never shrinks below this (then the right columns clip)


def status_markup(status: str) -> str:
    colour = {"running": "yellow", "queued": "cyan", "done": "green", "failed": "red",
              "cancelled": "magenta", "interrupted": "red"}.get(status, "white")
    return f"[{colour}]{status}[/]"


def experiment_rows(experiments: list[dict], running: dict, width: int) -> list[list]:
    """The panel's rows (cells as markup) for a table width cells wide: names are cut so
    that status and progress stay on screen (an imported experiment's name can be 80
    characters)."""
    rows = []
    for e in experiments:
        progress = e.get("progress")
        if running.get("experiment_id") == e["experiment_id"] and running.get("work_total"):
            progress = running["work_done"] / running["work_total"]
        rows.append([e["experiment_id"], e["name"], status_markup(e["status"]),
                     bar(progress if e["status"] != "queued" else 0.0), e["n_runs"],
                     e.get("device") or "", (e.get("created_at") or "")[:16]])
    def cell_width(i: int, cell) -> int:
        return len(Text.from_markup(cell).plain) if i == 2 else len(str(cell))  # 2: status
    others = [max([len(c)] + [cell_width(i, r[i]) for r in rows])
              for i, c in enumerate(EXPERIMENT_COLUMNS) if c != "name"]
    fit = name_width(width, others)
    for row in rows:
        row[1] = escape(fit_name(row[1], fit))
    return rows


def name_width(total: int, other_widths: list[int]) -> int:
    """How wide the experiments panel's name column may be so that the columns after it
    (status and progress first) stay on screen: the table's width less the other columns,
    two cells of padding each, and the scroll bar."""
    return max(NAME_MIN, total - sum(w + 2 for w in other_widths) - 2 - 2)


def fit_name(name: str, width: int) -> str:
    """A long name (an imported experiment's can be 80 characters) cut with an ellipsis."""
    return name if len(name) <= width else name[:max(1, width - 1)] + "…"
