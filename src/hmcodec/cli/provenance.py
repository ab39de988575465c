"""The provenance every results file of a command records: the command line as typed."""

from __future__ import annotations

import argparse
import shlex
import sys


def command_line(args: argparse.Namespace) -> str:
    """The command as typed, for provenance (always spelled ``hmcodec ...``): the one
    :func:`hmcodec.cli.main` recorded, else this process's arguments."""
    return getattr(args, "command_line", None) or shlex.join(["hmcodec", *sys.argv[1:]])
