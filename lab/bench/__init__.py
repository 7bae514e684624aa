"""Benchmarks behind `hotline bench`: each returns its figures as a dict for JSON."""

# `hotline bench media --menu-seconds`: how long each caller hears the welcome
# prompt before its key. The key must fall inside the zh-CN welcome prompt (24 s);
# the command line and the bench both check against these.
MIN_KEY_MS = 500
MAX_KEY_MS = 22_000

# `hotline bench ivr --find-max --tries`: runs a path gets at a rate before the
# search says it does not hold it (ivr_load.RateSearch).
FIND_MAX_TRIES = 2
