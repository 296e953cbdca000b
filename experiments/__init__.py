"""Seeded experiment scripts: ``python -m experiments.<name> [--quick]`` writes ``results/<name>/``."""
