"""``hmcodec bdrate``: BD-rate of one results file (or set of seeds) against another, added by
:func:`register`; the figures come from :mod:`hmcodec.evaluate.bdrate`."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from hmcodec.evaluate.bdrate import DEFAULT_METHOD, METHODS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bdrate`` subcommand."""
    p = subparsers.add_parser(
        "bdrate",
        help="BD-rate and BD-metric of one RD results file against another (or of seeds)",
        description="Print BD-rate (%) and BD-metric of TEST against ANCHOR with a piecewise "
        "cubic method and with the VCEG-M33 cubic polynomial. Give an arm as several results "
        "files joined by commas (one per seed) to get the mean BD-rate over every pair of "
        "seeds, its range, each arm's seed spread and a verdict.",
    )
    p.add_argument(
        "anchor",
        type=path_list,
        help="anchor results JSON (ours or CompressAI's), or SEED0,SEED1,...",
    )
    p.add_argument("test", type=path_list, help="test results JSON, or SEED0,SEED1,...")
    p.add_argument("--json", type=Path, dest="json_output", help="also write the figures as JSON")
    p.add_argument("--metric", default="psnr-rgb", help="quality metric (default: psnr-rgb)")
    p.add_argument(
        "--rate",
        default="bpp",
        help="rate axis: bpp (whole stream, default) or a results key such as bpp_payload "
        "(the coded layers without the container)",
    )
    p.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        choices=METHODS,
        help=f"interpolation (default: {DEFAULT_METHOD}); cubic is always printed as well",
    )
    p.set_defaults(func=run_bdrate)


def path_list(text: str) -> list[Path]:
    """``a.json`` or ``a_seed0.json,a_seed1.json``: the results files of one arm."""
    paths = [Path(part) for part in text.split(",") if part]
    if not paths:
        raise argparse.ArgumentTypeError("give at least one results file")
    return paths


def run_bdrate(args: argparse.Namespace) -> int:
    from hmcodec.evaluate.bdrate import compare
    from hmcodec.evaluate.results import RDResults

    if len(args.anchor) > 1 or len(args.test) > 1:
        return _bdrate_seeds(args)
    anchor, test = RDResults.load(args.anchor[0]), RDResults.load(args.test[0])
    methods = list(dict.fromkeys([args.method, "cubic"]))
    results = compare(anchor, test, args.metric, methods, args.rate)
    if args.json_output is not None:
        first = results[0]
        _write_json(
            args.json_output,
            {
                "anchor": anchor.name,
                "test": test.name,
                "metric": first.metric,
                "method": first.method,
                "bd_rate": first.bd_rate,
                "bd_metric": first.bd_metric,
                "shared_range": first.overlap,
            },
        )
    print(f"anchor: {anchor.name} ({args.anchor[0]})")
    print(f"test:   {test.name} ({args.test[0]})")
    print(f"metric: {results[0].metric}, shared metric range {results[0].overlap:.0%}")
    if args.rate != "bpp":
        print(f"rate:   {args.rate}")
    names = {"pchip": "PCHIP", "akima": "Akima", "cubic": "cubic (VCEG-M33)"}
    for r in results:
        if math.isnan(r.bd_rate):
            print(f"  {names[r.method]:<17} BD-rate      n/a   (too few points for this method)")
            continue
        print(
            f"  {names[r.method]:<17} BD-rate {r.bd_rate:+8.2f} %   "
            f"BD-{r.metric} {r.bd_metric:+.4f}"
        )
    return 0


def _bdrate_seeds(args: argparse.Namespace) -> int:
    """``hmcodec bdrate`` with several seeds per arm: mean, range, spreads and the verdict."""
    from hmcodec.evaluate.bdrate import compare_seeds
    from hmcodec.evaluate.results import RDResults

    anchors = [RDResults.load(path) for path in args.anchor]
    tests = [RDResults.load(path) for path in args.test]
    result = compare_seeds(anchors, tests, args.metric, args.method, args.rate)
    print(f"anchor: {anchors[0].name} ({len(anchors)} seed(s): {', '.join(map(str, args.anchor))})")
    print(f"test:   {tests[0].name} ({len(tests)} seed(s): {', '.join(map(str, args.test))})")
    print(
        f"metric: {result.metric}, {result.method}"
        + (f", rate {args.rate}" if args.rate != "bpp" else "")
    )
    undefined = f"; {result.undefined} pair(s) share no range" if result.undefined else ""
    print(
        f"  BD-rate {result.mean:+.2f} % (mean of {len(result.pairs)} seed pair(s){undefined}; "
        f"range {result.low:+.2f} … {result.high:+.2f} %; shared {result.metric} range "
        f"{result.shared:.0%})"
    )
    print(f"  seed spread: anchor ±{result.anchor_spread:.2f} %, test ±{result.test_spread:.2f} %")
    print(f"  verdict: {result.verdict}")
    if args.json_output is not None:
        _write_json(
            args.json_output,
            {
                "anchor": anchors[0].name,
                "test": tests[0].name,
                "metric": result.metric,
                "method": result.method,
                "rate": args.rate,
                "bd_rate_mean": result.mean,
                "bd_rate_low": result.low,
                "bd_rate_high": result.high,
                "pairs": list(result.pairs),
                "undefined_pairs": result.undefined,
                "anchor_spread": result.anchor_spread,
                "test_spread": result.test_spread,
                "shared_range": result.shared,
                "verdict": result.verdict,
                "anchor_files": [str(p) for p in args.anchor],
                "test_files": [str(p) for p in args.test],
            },
        )
    return 0


def _write_json(path: Path, value: dict[str, object]) -> None:
    import json

    from hmcodec.files import atomic_write

    text = json.dumps(value, indent=2, allow_nan=True) + "\n"
    atomic_write(path, lambda target: target.write_text(text))
