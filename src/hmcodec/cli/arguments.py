"""argparse ``type`` functions shared by the command groups (no torch)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value

    return parse


def lmbda_list(text: str) -> list[float]:
    """``8`` or ``8,0.3``: positive numbers, comma-separated (an argparse type)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers"
        ) from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"every λ must be a positive number, not {text!r}")
    return values


def unit_interval(text: str) -> float:
    """A number in [0, 1] (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1]")
    return value


def quality_list(text: str) -> list[float]:
    """``0,0.5,1``: numbers in [0, 1], comma-separated (an argparse type)."""
    return [unit_interval(v) for v in text.split(",")]
