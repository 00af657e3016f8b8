"""The New experiment form's helper process: reads {"raw", "name"} as JSON on stdin, checks
the config with the engine's validation, writes {"models", "model_steps", "problems"} as
JSON on stdout. A separate process so a large sweep's check never holds the interface's
Python lock (see tui/validate.py); it imports neither textual nor the database."""

from __future__ import annotations

import json
import sys


def check(raw: dict, name: str) -> tuple[int, int]:
    """(models, model-steps) of a raw config; raises ConfigError with the CLI's messages."""
    from moelab.engine.config import from_dict
    from moelab.engine.sweep import expand
    runs = expand(from_dict(raw, name=name))
    return len(runs), sum(r.train.steps for r in runs)


def main() -> None:
    from moelab.engine.config import ConfigError
    request = json.load(sys.stdin)
    try:
        models, steps = check(request["raw"], request["name"])
        answer = {"models": models, "model_steps": steps, "problems": []}
    except ConfigError as err:
        answer = {"models": 0, "model_steps": 0, "problems": list(err.problems)}
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
