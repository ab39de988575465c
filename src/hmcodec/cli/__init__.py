"""The ``hmcodec`` command line: a thin layer over the Python API.

Every user error (bad stream, wrong model, odd image, missing file, bad config) ends with one
sentence on stderr and a non-zero exit code.

One module per group of commands, each with a ``register(subparsers)`` that adds its
subcommands; a subcommand's ``func(args)`` returns the exit code and raises
:class:`~hmcodec.errors.HmcodecError` for user errors:

* :mod:`.training`: ``train``, ``demo``;
* :mod:`.coding`: ``encode``, ``decode``, ``models``, ``info``, ``extract``;
* :mod:`.bdrate`: ``bdrate``; :mod:`.curves`: ``plot``, ``baselines``;
* :mod:`.evaluation`: ``eval``, ``scalable-analysis``, ``bench``;
* :mod:`.analyze`: ``analyze appropriateness``;
* :mod:`.arguments`: the argparse types they share; :mod:`.provenance`: the command line as
  typed, for results files.

Start-up: building the parser imports no torch, and a command imports what it uses when it runs,
so ``--help``, ``info`` and ``extract`` answer at once and ``encode``/``decode`` load torch,
CompressAI's coder and layers (:mod:`hmcodec.compressai_lazy`) and the model's own heads only
(``tests/test_cli.py``, ``benchmarks/startup.py``).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import warnings

from hmcodec import __version__
from hmcodec.cli import analyze, bdrate, coding, curves, evaluation, training
from hmcodec.cli.arguments import lmbda_list, quality_list, unit_interval, whole_number
from hmcodec.errors import HmcodecError

__all__ = [
    "build_parser",
    "configure_logging",
    "lmbda_list",
    "main",
    "quality_list",
    "unit_interval",
    "whole_number",
]

log = logging.getLogger("hmcodec")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hmcodec", description="Learned scalable image coding for humans and machines."
    )
    parser.add_argument("--version", action="version", version=f"hmcodec {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    training.register_train(sub)
    coding.register(sub)
    training.register_demo(sub)
    bdrate.register(sub)
    curves.register(sub)
    evaluation.register(sub)
    analyze.register(sub)
    return parser


def configure_logging(verbose: bool = False) -> None:
    """hmcodec's notices on stderr (``--verbose`` lets Lightning's start-up chatter through)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("hmcodec: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    # CompressAI's import (when a command loads it) triggers torch's notice that
    # torch.jit.script is deprecated; it is not the user's concern
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["hmcodec", *(sys.argv[1:] if argv is None else argv)])
    configure_logging(args.verbose)

    try:
        return int(args.func(args) or 0)
    except HmcodecError as error:
        print(f"hmcodec: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("hmcodec: interrupted", file=sys.stderr)
        return 130
