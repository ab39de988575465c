"""How large an image hmcodec codes before refusing: checked before any tensor is allocated.

A stream's header declares its image size, and the decoder's work and memory grow with it, so a
crafted 78-byte stream could otherwise ask for 2³²−1 rows. Pillow bounds its decoders the same
way (``PIL.Image.MAX_IMAGE_PIXELS``). The defaults fit this project's reference machine (24 GB):
decoding costs about 0.6 GB per megapixel with the serial context model.
"""

from __future__ import annotations

from dataclasses import dataclass

from hmcodec.errors import HmcodecError


class SizeLimitError(HmcodecError):
    """An image or a stream's declared image is larger than the configured limits."""


@dataclass(frozen=True)
class SizeLimits:
    """The largest image that ``encode`` and ``decode`` accept (``None``: no bound)."""

    max_pixels: int | None = 8_000_000
    max_side: int | None = 32_768

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_side"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, not {value!r}")

    def check(self, height: int, width: int, what: str) -> None:
        """Raise :class:`SizeLimitError` if ``what`` (an image or a stream) is too large."""
        if self.max_side is not None and max(height, width) > self.max_side:
            raise SizeLimitError(
                f"{what} is {width}×{height}, and a side over {self.max_side} pixels exceeds the "
                f"limit (raise it with --max-side or SizeLimits(max_side=...))."
            )
        if self.max_pixels is not None and height * width > self.max_pixels:
            raise SizeLimitError(
                f"{what} is {width}×{height} ({height * width:,} pixels), over the limit of "
                f"{self.max_pixels:,} pixels (raise it with --max-pixels or "
                "SizeLimits(max_pixels=...); decoding needs about 0.6 GB per megapixel)."
            )


DEFAULT_LIMITS = SizeLimits()
