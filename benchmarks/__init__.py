"""stracker's benchmarks: scripts that print tables and write JSON to benchmarks/results/.

Run them all with ``python -m benchmarks`` (``--quick`` for a tiny smoke run), or one with
``python -m benchmarks.simulate`` / ``python -m benchmarks.aggregate``.
"""
