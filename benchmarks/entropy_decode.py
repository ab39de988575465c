"""Rate and coding speed of the latent entropy models on the same latents.

Every model is trained briefly (Adam on −log2 likelihood) on one synthetic integer latent that
is correlated in space (bilinearly up-sampled noise) and across channels (random mixtures of
``channels // 4`` smooth factors), then the median encode/decode times and the real rate are
measured on that latent. Decoding strategies compared:

* ``context`` — serial masked 5×5 context (Minnen 2018): one network step per position;
* ``checkerboard`` — two parallel passes (He 2021);
* ``grouped`` — the "enhanced" model (arXiv 2305.02562 §3.3): serial inside channel groups;
* ``channelwise`` — one parallel pass per channel group (He 2022, ELIC);
* ``hyperprior`` (± context) — Ballé/Minnen 2018; ``factorized`` — no context.

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
    ("hyperprior", "hyperprior", {}),
    ("hyperprior+context", "hyperprior", {"context": True}),
    ("factorized", "factorized", {}),
]


def synthetic_latent(channels: int, size: int, seed: int) -> torch.Tensor:
    """Integer latent with spatial and cross-channel correlation (1×C×size×size)."""
    generator = torch.Generator().manual_seed(seed)
    factors = max(channels // 4, 1)
    coarse = torch.randn(1, factors, -(-size // 4), -(-size // 4), generator=generator) * 4
    smooth = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    mixing = torch.randn(channels, factors, generator=generator) / factors**0.5
    mixed = torch.einsum("cf,nfhw->nchw", mixing, smooth)
    return torch.round(mixed + 0.7 * torch.randn(1, channels, size, size, generator=generator))


def bits(likelihoods: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(-torch.log2(value).sum() for value in likelihoods.values())


def train(model: LatentEntropyModel, y_hat: torch.Tensor, steps: int, lr: float) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = bits(model(y_hat)) / y_hat.numel() + model.aux_loss()
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
    parser.add_argument("--steps", type=int, default=200, help="training steps per model")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="*", default=[m[0] for m in MODELS])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    y_hat = synthetic_latent(args.channels, args.size, args.seed)
    size = (args.size, args.size)
    rows = []
    for label, name, kwargs in MODELS:
        if label not in args.models:
            continue
        torch.manual_seed(args.seed)
        model = ENTROPY_MODELS.build(name, channels=args.channels, **kwargs)
        start = time.perf_counter()
        train(model, y_hat, args.steps, args.lr)
        trained = time.perf_counter() - start
        with torch.no_grad():
            estimate = float(bits(model(y_hat)))
        encode_ms, strings = timed(lambda m=model: m.compress(y_hat), args.repeat)
        decode_ms, decoded = timed(lambda m=model, s=strings: m.decompress(s, size), args.repeat)
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
        f"{args.steps} training steps, {args.threads} thread(s), median of {args.repeat}.\n"
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
