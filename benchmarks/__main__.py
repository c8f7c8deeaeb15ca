"""Run every benchmark: ``python -m benchmarks`` (``--quick``: tiny sizes, a smoke run for the tests)."""

from __future__ import annotations

import argparse

from benchmarks import (
    aggregate,
    cores,
    distributed,
    frames,
    next_questions,
    plan,
    quality,
    read_labels,
    scaling,
    simulate,
    versus_crowdkit,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small preset, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        cores.main(["--work", "2e5", "--runs", "1"])
        simulate.main(["--preset", "small", "--repeat", "1"])
        read_labels.main(["--answers", "20000", "--repeat", "1"])
        aggregate.main(["--preset", "small", "--repeat", "1"])
        scaling.main(["--sizes", "2e4", "5e4", "--iterations", "3"])
        versus_crowdkit.main(["--answers", "20000", "--buildings", "200", "--iterations", "3", "--repeat", "1"])
        quality.main(["--preset", "small"])
        frames.main(["--preset", "small", "--repeat", "1"])
        distributed.main(["--sizes", "2e4", "--iterations", "2", "--partitions", "2"])
        next_questions.main(["--preset", "small", "--repeat", "1", "--plan-frames", "3000"])
        plan.main(["--preset", "small", "--budget", "2000"])
    else:
        cores.main([])
        simulate.main([])
        read_labels.main([])
        aggregate.main([])
        scaling.main([])
        versus_crowdkit.main([])
        quality.main(["--seeds", "0", "1", "2"])
        frames.main([])
        distributed.main([])
        next_questions.main([])
        plan.main(["--seeds", "0", "1", "2"])


if __name__ == "__main__":
    main()
