"""The lab's views, one per file."""
