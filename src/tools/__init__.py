"""Utilities run as `python -m src.tools.NAME`."""
