"""Benchmarks behind `hotline bench`: each returns its figures as a dict for JSON."""
