"""Rate and coding speed of the latent entropy models on the same latents.

Every model is trained briefly (Adam on −log2 likelihood) on one synthetic integer latent that
is correlated in space (bilinearly up-sampled noise) and across channels (random mixtures of
``channels // 4`` smooth factors), then the median encode/decode times and the real rate are
measured on that latent. Decoding strategies compared:

* ``context`` — serial masked 5×5 context (Minnen 2018): one network step per position;
* ``checkerboard`` — two parallel passes (He 2021);
* ``grouped`` — the "enhanced" model (arXiv 2305.02562 §3.3): serial inside channel groups;
* ``channelwise`` — one parallel pass per channel group, no spatial context;
* ``elic`` — ELIC's uneven channel groups, two checkerboard passes each (He 2022);
* ``hyperprior`` — Ballé/Minnen 2018's mean-scale hyperprior, and ``hyperprior-<model>``, the
  same hyper codec composed with a context model; ``factorized`` — no context.

Usage: ``python benchmarks/entropy_decode.py [--channels 32 --size 32 --repeat 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F

from hmcodec.entropy import ENTROPY_MODELS, LatentEntropyModel

#: (label, registered name, kwargs)
MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("context", "context", {}),
    ("checkerboard", "checkerboard", {}),
    ("grouped", "grouped", {}),
    ("channelwise", "channelwise", {}),
    ("elic", "elic", {}),
    ("hyperprior", "hyperprior", {}),
    ("hyperprior-context", "hyperprior-context", {}),
    ("hyperprior-checkerboard", "hyperprior-checkerboard", {}),
    ("hyperprior-elic", "hyperprior-elic", {}),
    ("factorized", "factorized", {}),
]


def synthetic_latent(channels: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer latent with spatial and cross-channel correlation (1×C×size×size), and side
    information: its smooth factors seen through noise (what a base layer might tell)."""
    generator = torch.Generator().manual_seed(seed)
    factors = max(channels // 4, 1)
    coarse = torch.randn(1, factors, -(-size // 4), -(-size // 4), generator=generator) * 4
    smooth = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    mixing = torch.randn(channels, factors, generator=generator) / factors**0.5
    mixed = torch.einsum("cf,nfhw->nchw", mixing, smooth)
    y_hat = torch.round(mixed + 0.7 * torch.randn(1, channels, size, size, generator=generator))
    side = smooth + 2.0 * torch.randn(smooth.shape, generator=generator)
    return y_hat, side


def bits(likelihoods: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(-torch.log2(value).sum() for value in likelihoods.values())


def train(
    model: LatentEntropyModel, y_hat: torch.Tensor, side: torch.Tensor | None, steps: int, lr: float
) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = bits(model(y_hat, side)) / y_hat.numel() + model.aux_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.update()
    model.eval()


def timed(function, repeat: int) -> tuple[float, Any]:
    """Median wall time in ms over ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--size", type=int, default=32, help="latent height and width")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (median)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per model")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="*", default=[m[0] for m in MODELS])
    parser.add_argument(
        "--side", action="store_true", help="give the models side information (not factorized)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    y_hat, side_information = synthetic_latent(args.channels, args.size, args.seed)
    size = (args.size, args.size)
    rows = []
    for label, name, kwargs in MODELS:
        if label not in args.models:
            continue
        side = side_information if args.side and name != "factorized" else None
        side_channels = 0 if side is None else side.shape[1]
        torch.manual_seed(args.seed)
        model = ENTROPY_MODELS.build(
            name, channels=args.channels, side_channels=side_channels, **kwargs
        )
        start = time.perf_counter()
        train(model, y_hat, side, args.steps, args.lr)
        trained = time.perf_counter() - start
        with torch.no_grad():
            estimate = float(bits(model(y_hat, side)))
        encode_ms, strings = timed(lambda m=model, c=side: m.compress(y_hat, c), args.repeat)
        decode_ms, decoded = timed(
            lambda m=model, s=strings, c=side: m.decompress(s, size, c), args.repeat
        )
        if not torch.equal(decoded, y_hat):
            raise SystemExit(f"{label}: the decoded latent differs from the encoded one")
        real = 8 * sum(len(s) for s in strings)
        rows.append((label, real, estimate, encode_ms, decode_ms))
        print(
            f"{label}: trained {args.steps} steps in {trained:.1f} s, {real} bits, "
            f"encode {encode_ms:.0f} ms, decode {decode_ms:.0f} ms",
            file=sys.stderr,
        )
    reference = {row[0]: row for row in rows}.get("context")
    symbols = y_hat.numel()
    print(
        f"\nLatent 1×{args.channels}×{args.size}×{args.size} ({symbols} symbols), "
        f"{args.steps} training steps (Adam, lr {args.lr:g}), {args.threads} thread(s), median of "
        f"{args.repeat}; side information: "
        f"{'yes (all but factorized)' if args.side else 'none'}.\n"
    )
    print(
        "| model | bits | bits/symbol | bits vs context | encode ms | decode ms "
        "| decode speed-up vs context | real vs estimate |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, real, estimate, encode_ms, decode_ms in rows:
        versus = f"{100 * (real / reference[1] - 1):+.1f} %" if reference else "–"
        speed_up = f"{reference[4] / decode_ms:.1f}×" if reference else "–"
        print(
            f"| {label} | {real} | {real / symbols:.3f} | {versus} | {encode_ms:.0f} "
            f"| {decode_ms:.0f} | {speed_up} | {100 * (real / estimate - 1):+.2f} % |"
        )


if __name__ == "__main__":
    main()
