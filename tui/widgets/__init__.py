"""Widgets of the lab's screens."""
