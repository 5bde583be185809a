"""Benchmarks of the customer pages (``bench/pages.py``); not part of the installed package."""
