"""The benchmark suite; run it as ``python -m benchmarks`` (see ``benchmarks/__main__.py``)."""
