"""The views' plot widget: plotext's figure drawn once per figure and size, nothing before
the first figure, and its ANSI decoded into the same styled text as rich's decoder."""

from __future__ import annotations

import asyncio
import io
import random

from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual_plotext.plot import Plot as Figure

from moelab.tui.widgets.plot import Plot, from_ansi


def drawn(text: Text) -> str:
    console = Console(file=io.StringIO(), width=300, color_system="truecolor",
                      force_terminal=True)
    console.print(text, end="")
    return console.file.getvalue()


def test_from_ansi_draws_what_rich_draws():
    rng = random.Random(1)
    for case in range(5):
        fig = Figure()
        for k in range(1 + case):
            xs = list(range(2 + 40 * k))
            fig.plot(xs, [rng.random() * 10 ** k for _ in xs], label=f"s{k}",
                     marker=["braille", "dot", "hd", None][k % 4],
                     color=[(30 * k, 100, 200), "red", None][k % 3])
        if case == 3:
            fig.stacked_bar([0.1, 0.5, 0.9], [[1, 2, 3], [3, 2, 1]], labels=["a", "b"],
                            color=["red", "blue"])
        fig.title("t")
        fig.plotsize(50 + 5 * case, 12 + case)
        fig.theme(["pro", "dark", "clear", "default", "pro"][case])
        ansi = fig.build()
        ours, rich = from_ansi(ansi), Text.from_ansi(ansi)
        assert ours.plain == rich.plain and drawn(ours) == drawn(rich)


def test_a_plot_is_built_once_per_figure_and_size():
    builds = []

    class PlotApp(App):
        def compose(self) -> ComposeResult:
            yield Plot(id="plot")

    async def body():
        app = PlotApp()
        async with app.run_test(size=(60, 20)) as pilot:
            plot = app.query_one(Plot)
            original = plot._plot.build
            plot._plot.build = lambda: builds.append(plot.size) or original()
            await pilot.pause()
            assert builds == [] and str(plot.render()) == ""  # no figure yet: nothing drawn
            plot.plt.plot([1, 2, 3], [3, 1, 2])
            plot.replot()
            await pilot.pause()
            for _ in range(3):  # Textual asks again on every refresh
                plot.refresh()
                await pilot.pause()
            assert len(builds) == 1
            plot.replot()  # a new figure
            await pilot.pause()
            assert len(builds) == 2
    asyncio.run(body())
