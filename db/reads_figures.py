"""Reads behind the exported figures (registered into db.reads.READS)."""

from __future__ import annotations
