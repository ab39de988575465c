"""``python -m hmcodec.machines ARGS``: the ``hmcodec`` command line with this package loaded.

It registers this package's architectures (``split``, ``direct-features``) and task heads
(``full-input``, ``segmentation-resnet-tiny``) and makes sure ``analyze appropriateness`` is
there, then runs the usual command line (equivalent to ``hmcodec ARGS`` where the main CLI
already does both).
"""

from __future__ import annotations

import sys

import hmcodec.machines  # noqa: F401  (registers the architectures and task heads)
from hmcodec import cli
from hmcodec.machines.cli import register


def main(argv: list[str] | None = None) -> int:
    build = cli.build_parser

    def build_parser():  # type: ignore[no-untyped-def]
        parser = build()
        subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        if "analyze" not in subparsers.choices:
            register(subparsers)
        return parser

    cli.build_parser = build_parser
    try:
        return cli.main(argv)
    finally:
        cli.build_parser = build


if __name__ == "__main__":
    sys.exit(main())
