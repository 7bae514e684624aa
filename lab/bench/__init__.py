"""Benchmarks behind `hotline bench`: each returns its figures as a dict for JSON."""

# `hotline bench media --menu-seconds`: how long each caller hears the welcome
# prompt before its key. The key must fall inside the zh-CN welcome prompt (24 s);
# the command line and the bench both check against these.
MIN_KEY_MS = 500
MAX_KEY_MS = 22_000
