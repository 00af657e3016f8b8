"""The store's clock: a leaf module, so db/units.py and db/store.py need not import each other."""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    # Naive UTC: the columns are TIMESTAMP, and UTC keeps runs from different hosts comparable.
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
