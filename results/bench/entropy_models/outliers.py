"""Where an entropy model's forward-pass rate exceeds its coded bytes (issue 14's campaign).

For one trained model and a few test images at 256×256, at the lowest and highest λ of the
enhancement layer's range: the estimated bits −Σlog₂p of ŷ and ẑ, how many ŷ symbols sit at the
likelihood bound (``LIKELIHOOD_BOUND``: about 30 bits each in the estimate, while the coder
escape-codes values beyond its tables for far less), the bits those symbols add to the estimate,
and the enhancement payload measured from real streams. Run from the repository root, e.g.
    python results/bench/entropy_models/outliers.py \
        runs/findings/entropy-hyperprior-checkerboard-seed1/model.ckpt
"""

from __future__ import annotations

import argparse

import torch

from hmcodec.checkpoint import load_model
from hmcodec.codec.api import encode, operating_point
from hmcodec.codec.layers import BASE, ENHANCEMENT
from hmcodec.data import build_dataset
from hmcodec.entropy.gaussian import LIKELIHOOD_BOUND
from hmcodec.evaluate.learned import parse_dataset_spec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--images", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model)
    codec = model.codec.eval()
    spec = ["shapesworld", "split=test", "image_size=256", f"num_samples={args.images}"]
    dataset = build_dataset(parse_dataset_spec(spec))
    limits = codec.rate_ranges()[ENHANCEMENT]
    print(
        "λ_e | estimated ŷ bits | estimated ẑ bits | ŷ symbols at the bound | their bits | "
        "measured payload bits"
    )
    for lmbda in (limits.lmbda_min, limits.lmbda_max):
        point = operating_point(codec) | {ENHANCEMENT: lmbda}
        y_bits = z_bits = bound_bits = 0.0
        at_bound = symbols = measured = 0
        for index in range(args.images):
            image = dataset[index]["image"]
            with torch.no_grad():
                base = codec.forward_base(image[None], lmbda=point.get(BASE))
                likelihoods = codec.forward_enhancement(image[None], base["y_hat"], lmbda)[
                    "likelihoods"
                ]
            y = likelihoods["y"]
            bounded = y <= LIKELIHOOD_BOUND * (1 + 1e-4)
            y_bits += float(-torch.log2(y).sum())
            z_bits += float(-torch.log2(likelihoods["z"]).sum()) if "z" in likelihoods else 0.0
            at_bound += int(bounded.sum())
            symbols += y.numel()
            bound_bits += float(-torch.log2(y[bounded]).sum())
            stream = encode(model, image, lmbdas=point)
            measured += stream.chunk(ENHANCEMENT).payload_bytes * 8
        print(
            f"{lmbda:g} | {y_bits:.0f} | {z_bits:.0f} | {at_bound} of {symbols} | "
            f"{bound_bits:.0f} | {measured}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
