"""Run every benchmark: ``python -m benchmarks`` (``--quick``: tiny sizes, a smoke run for the tests)."""

from __future__ import annotations

import argparse

from benchmarks import aggregate, simulate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small preset, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        simulate.main(["--preset", "small", "--repeat", "1"])
        aggregate.main(["--preset", "small", "--repeat", "1"])
    else:
        simulate.main([])
        aggregate.main([])


if __name__ == "__main__":
    main()
