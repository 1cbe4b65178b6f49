"""The benchmark: generate data at several sizes, time the product against a pandas notebook.

`python -m bench` (or `make bench`) runs it; BENCHMARKS.md holds the latest table.
"""
