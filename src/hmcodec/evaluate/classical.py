"""Classical image codecs as RD baselines: JPEG, WebP, AVIF, JPEG 2000, JPEG XL, HEVC intra.

Each codec's ``quality`` is its own native knob (see ``ClassicalCodec.quality_name``); the rate
is the real size of the encoded file. Images are ``H×W×3`` uint8 RGB; grayscale (``H×W`` or
``H×W×1``) is replicated to RGB and RGBA loses its alpha before encoding, so the decoded image
is always ``H×W×3`` and PSNR/bpp are those of the RGB file.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imagecodecs
import numpy as np
import PIL
from PIL import Image, features

from hmcodec.errors import ConfigError, ImageError
from hmcodec.evaluate.image_metrics import ms_ssim_per_image, psnr_per_image
from hmcodec.evaluate.results import RDResults
from hmcodec.registry import Registry

Quality = int | float
TaskFn = Callable[[list[np.ndarray]], dict[str, float]]


@dataclass(frozen=True)
class ClassicalCodec:
    """One codec: encode RGB uint8 to bytes and decode back, at a native ``quality``."""

    name: str
    label: str
    encode: Callable[[np.ndarray, Quality], bytes]
    decode: Callable[[bytes], np.ndarray]
    default_qualities: tuple[Quality, ...]
    #: what ``quality`` means for this codec.
    quality_name: str
    #: whether a larger ``quality`` gives more bytes and better fidelity (False for QP/distance).
    higher_is_better: bool = True
    #: library and settings, written into results descriptions.
    library: str = ""
    #: why the codec cannot run here, or ``None`` when it can.
    unavailable: Callable[[], str | None] = field(default=lambda: None)


CODECS: Registry[ClassicalCodec] = Registry("classical codec")


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """``H×W×3`` uint8 from uint8 gray (``H×W``/``H×W×1``), RGB or RGBA (alpha dropped)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ImageError("classical codecs take uint8 numpy images (H×W, H×W×1, H×W×3, H×W×4).")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ImageError(f"expected an H×W(×1/3/4) image, got shape {image.shape}.")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def encode_decode(
    image_uint8_hwc: np.ndarray, codec: str, quality: Quality
) -> tuple[np.ndarray, int]:
    """Encode and decode one image; returns the decoded ``H×W×3`` uint8 and the file's bytes."""
    spec = get_codec(codec)
    rgb = as_rgb_uint8(image_uint8_hwc)
    data = spec.encode(rgb, quality)
    decoded = as_rgb_uint8(np.asarray(spec.decode(data)))
    if decoded.shape != rgb.shape:
        raise RuntimeError(f"{codec} decoded {decoded.shape} from a {rgb.shape} image")
    return decoded, len(data)


def get_codec(name: str) -> ClassicalCodec:
    """The registered codec ``name``; ``ConfigError`` if unknown or unavailable here."""
    spec = CODECS.build(name)
    reason = spec.unavailable()
    if reason:
        raise ConfigError(f"codec {name!r} is unavailable: {reason}.")
    return spec


def available_codecs() -> dict[str, str | None]:
    """Every registered codec → ``None`` if it runs here, else why not."""
    return {name: CODECS.build(name).unavailable() for name in CODECS.names()}


def sweep(
    images: Sequence[np.ndarray],
    codec: str,
    qualities: Iterable[Quality] | None = None,
    task_fn: TaskFn | None = None,
    *,
    names: Sequence[str] | None = None,
    command: str | None = None,
    dataset: str = "",
    progress: Callable[[int], object] | None = None,
    provenance: Mapping[str, object] | None = None,
) -> RDResults:
    """RD points of ``codec`` over ``images``, one per quality: mean bpp, PSNR-RGB, MS-SSIM.

    bpp is ``bytes · 8 / (H·W)`` per image, then averaged over images, like the metrics.
    ``task_fn(decoded_images)`` may add task metrics (e.g. ``{"miou": 0.6}``) to each point.
    ``progress(n)`` is called after each image (e.g. ``tqdm.update``). ``provenance`` is added
    to every point's provenance (e.g. the task model).
    """
    spec = get_codec(codec)
    qualities = list(spec.default_qualities if qualities is None else qualities)
    if not images:
        raise ConfigError("no images to evaluate.")
    if not qualities:
        raise ConfigError(f"no qualities given for {codec}.")
    names = list(names) if names is not None else [f"image{i}" for i in range(len(images))]
    rgbs = [as_rgb_uint8(image) for image in images]
    where = f" on {dataset}" if dataset else ""
    description = (
        f"{spec.label} ({spec.library}), quality = {spec.quality_name}, "
        f"mean over {len(rgbs)} images{where}"
    )
    out = RDResults(name=spec.label, description=description)
    for quality in qualities:
        decoded_all: list[np.ndarray] = []
        rows: list[dict[str, str | float]] = []
        for name, rgb in zip(names, rgbs, strict=True):
            decoded, nbytes = encode_decode(rgb, codec, quality)
            decoded_all.append(decoded)
            rows.append(
                {
                    "image": name,
                    "bytes": nbytes,
                    "bpp": nbytes * 8 / (rgb.shape[0] * rgb.shape[1]),
                    "psnr-rgb": psnr_per_image(rgb, decoded)[0],
                    "ms-ssim": ms_ssim_per_image(rgb, decoded)[0],
                }
            )
            if progress is not None:
                progress(1)
        metrics = {key: _mean([float(r[key]) for r in rows]) for key in ("psnr-rgb", "ms-ssim")}
        if task_fn is not None:
            metrics |= {k: float(v) for k, v in task_fn(decoded_all).items()}
        point: dict[str, object] = {"codec": codec, "quality": quality}
        point |= {"library": spec.library, "images": len(rgbs)}
        if command:
            point["command"] = command
        if dataset:
            point["dataset"] = dataset
        point |= dict(provenance or {})
        bpp = _mean([float(r["bpp"]) for r in rows])
        out.add_point(bpp, metrics, point, per_image=rows)
    return out


def _mean(values: list[float]) -> float:
    """Mean; NaN if any value is NaN (e.g. MS-SSIM of small images), inf if any is inf."""
    return math.fsum(values) / len(values) if values else math.nan


# --------------------------------------------------------------------------------- Pillow codecs


def _pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _pillow_encode(fmt: str, **options: object) -> Callable[[np.ndarray], bytes]:
    def encode(rgb: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buffer, format=fmt, **options)
        return buffer.getvalue()

    return encode


def _int_quality(codec: str, quality: Quality, low: int = 0, high: int = 100) -> int:
    if quality != int(quality) or not low <= quality <= high:
        raise ConfigError(f"{codec} quality must be an integer in [{low}, {high}], got {quality}.")
    return int(quality)


def _pillow_missing(feature: str, what: str) -> Callable[[], str | None]:
    return lambda: None if features.check(feature) else f"Pillow was built without {what}"


_PIL = f"Pillow {PIL.__version__}"


def _libjpeg() -> str:
    if features.check("libjpeg_turbo"):
        return f"libjpeg-turbo {features.version('libjpeg_turbo')}"
    return f"libjpeg {features.version('jpg')}"


@CODECS.register("jpeg")
def _jpeg() -> ClassicalCodec:
    return ClassicalCodec(
        name="jpeg",
        label="JPEG",
        encode=lambda rgb, q: _pillow_encode("JPEG", quality=_int_quality("jpeg", q, 1, 100))(rgb),
        decode=_pillow_decode,
        default_qualities=(5, 15, 30, 50, 75, 90),
        quality_name="libjpeg quality 1–100 (4:2:0)",
        library=f"{_PIL}, {_libjpeg()}",
        unavailable=_pillow_missing("jpg", "JPEG"),
    )


@CODECS.register("webp")
def _webp() -> ClassicalCodec:
    return ClassicalCodec(
        name="webp",
        label="WebP",
        encode=lambda rgb, q: _pillow_encode("WEBP", quality=_int_quality("webp", q), method=6)(
            rgb
        ),
        decode=_pillow_decode,
        default_qualities=(5, 20, 40, 60, 80, 95),
        quality_name="libwebp quality 0–100 (lossy, method 6)",
        library=f"{_PIL}, libwebp {features.version('webp')}",
        unavailable=_pillow_missing("webp", "WebP"),
    )


def _avif_codecs() -> str:
    try:
        from PIL import _avif as pil_avif

        return f" ({pil_avif.codec_versions()})"
    except (ImportError, AttributeError):
        return ""


@CODECS.register("avif")
def _avif() -> ClassicalCodec:
    return ClassicalCodec(
        name="avif",
        label="AVIF",
        encode=lambda rgb, q: _pillow_encode(
            "AVIF", quality=_int_quality("avif", q), speed=6, subsampling="4:2:0", max_threads=1
        )(rgb),
        decode=_pillow_decode,
        default_qualities=(20, 35, 50, 65, 80, 90),
        quality_name="libavif quality 0–100 (4:2:0, speed 6)",
        library=f"{_PIL}, libavif {features.version('avif')}{_avif_codecs()}",
        unavailable=_pillow_missing("avif", "AVIF"),
    )


def _jpeg2000_encode(rgb: np.ndarray, quality: Quality) -> bytes:
    if not 0 < quality < 24:
        raise ConfigError(f"jpeg2000 quality is a target bpp in (0, 24), got {quality}.")
    return _pillow_encode(
        "JPEG2000",
        quality_mode="rates",
        quality_layers=[24.0 / float(quality)],
        irreversible=True,
        mct=1,
    )(rgb)


@CODECS.register("jpeg2000")
def _jpeg2000() -> ClassicalCodec:
    return ClassicalCodec(
        name="jpeg2000",
        label="JPEG 2000",
        encode=_jpeg2000_encode,
        decode=_pillow_decode,
        default_qualities=(0.125, 0.25, 0.5, 0.75, 1.25, 2.0),
        quality_name="target bpp (OpenJPEG rate = 24/bpp, 9/7 wavelet, colour transform)",
        library=f"{_PIL}, OpenJPEG {features.version('jpg_2000')}",
        unavailable=_pillow_missing("jpg_2000", "JPEG 2000 (OpenJPEG)"),
    )


# ------------------------------------------------------------------------------------- JPEG XL


def _jpegxl_encode(rgb: np.ndarray, quality: Quality) -> bytes:
    if not 0 <= quality <= 100:
        raise ConfigError(f"jpegxl quality must be in [0, 100], got {quality}.")
    return bytes(
        imagecodecs.jpegxl_encode(
            rgb,
            level=quality,  # type: ignore[arg-type]  # the stub says int; libjxl takes a float quality
            effort=7,
            numthreads=1,
        )
    )


@CODECS.register("jpegxl")
def _jpegxl() -> ClassicalCodec:
    return ClassicalCodec(
        name="jpegxl",
        label="JPEG XL",
        encode=_jpegxl_encode,
        decode=lambda data: np.asarray(imagecodecs.jpegxl_decode(data, numthreads=1)),
        default_qualities=(10, 30, 50, 65, 80, 90),
        quality_name="libjxl quality 0–100 (effort 7)",
        library=f"imagecodecs {imagecodecs.__version__}, {imagecodecs.jpegxl_version()}",
        unavailable=lambda: (
            None if imagecodecs.JPEGXL.available else "imagecodecs was built without JPEG XL"
        ),
    )


# ---------------------------------------------------------------------------------- HEVC intra


def _hevc_unavailable() -> str | None:
    if shutil.which("ffmpeg") is None:
        return "HEVC needs ffmpeg on PATH to decode (and x265 or ffmpeg's libx265 to encode)"
    if shutil.which("x265") is None and not _ffmpeg_has_libx265():
        return "HEVC needs the x265 binary or an ffmpeg built with libx265 on PATH"
    return None


def _ffmpeg_has_libx265() -> bool:
    try:
        listing = subprocess.run(
            ["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    return "libx265" in listing


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {tail[0]}")


def _hevc_encode(rgb: np.ndarray, quality: Quality) -> bytes:
    qp = _int_quality("hevc", quality, 0, 51)
    with tempfile.TemporaryDirectory(prefix="hmcodec-hevc-") as tmp:
        png, y4m, out = (Path(tmp) / n for n in ("in.png", "in.y4m", "out.hevc"))
        Image.fromarray(rgb, "RGB").save(png)
        ffmpeg_in = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(png)]
        if shutil.which("x265") is not None:
            _run([*ffmpeg_in, "-pix_fmt", "yuv444p", "-strict", "-1", str(y4m)])
            x265 = ["x265", "--input", str(y4m), "--output", str(out), "--preset", "medium"]
            _run([*x265, "--qp", str(qp), "--frames", "1", "--log-level", "error"])
        else:
            libx265 = ["-pix_fmt", "yuv444p", "-c:v", "libx265", "-preset", "medium"]
            params = ["-x265-params", f"qp={qp}:log-level=error", "-f", "hevc", str(out)]
            _run([*ffmpeg_in, *libx265, *params])
        return out.read_bytes()


def _hevc_decode(data: bytes) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="hmcodec-hevc-") as tmp:
        stream, png = Path(tmp) / "in.hevc", Path(tmp) / "out.png"
        stream.write_bytes(data)
        ffmpeg = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "hevc"]
        _run([*ffmpeg, "-i", str(stream), "-frames:v", "1", "-pix_fmt", "rgb24", str(png)])
        return _pillow_decode(png.read_bytes())


@CODECS.register("hevc")
def _hevc() -> ClassicalCodec:
    return ClassicalCodec(
        name="hevc",
        label="HEVC intra (x265)",
        encode=_hevc_encode,
        decode=_hevc_decode,
        default_qualities=(22, 27, 32, 37, 42, 47),
        quality_name="QP 0–51 (YCbCr 4:4:4, preset medium; lower is better)",
        higher_is_better=False,
        library="x265 + ffmpeg",
        unavailable=_hevc_unavailable,
    )
