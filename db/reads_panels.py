"""Reads behind the TUI panels (registered into db.reads.READS)."""

from __future__ import annotations
