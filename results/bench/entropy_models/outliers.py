"""Where an entropy model's forward-pass rate exceeds its coded bytes (issue 14's campaign).

For one trained model and a few test images (default: ShapesWorld at 256×256), at the lowest and
highest λ of the enhancement layer's range: the estimated bits −Σlog₂p of ŷ under the training
likelihood bound (``LIKELIHOOD_BOUND``: about 30 bits for a symbol far in a Gaussian's tail) and
as the coder charges them (:meth:`~hmcodec.entropy.gaussian.GaussianTables.coded_floor`: at most
16 bits in a table, 16 plus the bypass code beyond it; what ``hmcodec eval`` estimates), the ẑ
bits, how many ŷ symbols sit at the training bound, and the enhancement payload measured from
real streams. Run from the repository root, e.g.
    python results/bench/entropy_models/outliers.py \
        runs/entropy-camvid/hyperprior-checkerboard-seed0/model.ckpt \
        --images 4 --dataset kodak root=../shared/data/kodak
"""

from __future__ import annotations

import argparse

import torch

from hmcodec.checkpoint import load_model
from hmcodec.codec.api import encode, operating_point
from hmcodec.codec.layers import BASE, ENHANCEMENT
from hmcodec.data import build_dataset
from hmcodec.entropy.gaussian import LIKELIHOOD_BOUND, GaussianTables
from hmcodec.evaluate.learned import parse_dataset_spec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument(
        "--dataset",
        nargs="+",
        default=["shapesworld", "split=test", "image_size=256"],
        help="dataset spec as for hmcodec eval (default: ShapesWorld test at 256×256)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model)
    codec = model.codec.eval()
    dataset = build_dataset(parse_dataset_spec(args.dataset))
    limits = codec.rate_ranges()[ENHANCEMENT]
    tables = [module for module in codec.modules() if isinstance(module, GaussianTables)]
    print(
        "λ_e | ŷ bits, training bound | ŷ bits, as coded | ẑ bits | ŷ symbols at the bound | "
        "their bits | estimate as coded − measured | measured payload bits"
    )
    for lmbda in (limits.lmbda_min, limits.lmbda_max):
        point = operating_point(codec) | {ENHANCEMENT: lmbda}
        y_bits = coded_bits = z_bits = bound_bits = 0.0
        at_bound = symbols = measured = 0
        for index in range(args.images):
            image = dataset[index]["image"]
            with torch.no_grad():
                base = codec.forward_base(image[None], lmbda=point.get(BASE))
                likelihoods = codec.forward_enhancement(image[None], base["y_hat"], lmbda)[
                    "likelihoods"
                ]
                for module in tables:  # the training bound on the same (rounded) symbols
                    module.training = True
                y = codec.forward_enhancement(image[None], base["y_hat"], lmbda)["likelihoods"]["y"]
                for module in tables:
                    module.training = False
            coded_bits += float(-torch.log2(likelihoods["y"]).sum())
            bounded = y <= LIKELIHOOD_BOUND * (1 + 1e-4)
            y_bits += float(-torch.log2(y).sum())
            z_bits += float(-torch.log2(likelihoods["z"]).sum()) if "z" in likelihoods else 0.0
            at_bound += int(bounded.sum())
            symbols += y.numel()
            bound_bits += float(-torch.log2(y[bounded]).sum())
            stream = encode(model, image, lmbdas=point)
            measured += stream.chunk(ENHANCEMENT).payload_bytes * 8
        gap = 100 * (coded_bits + z_bits - measured) / measured
        print(
            f"{lmbda:g} | {y_bits:.0f} | {coded_bits:.0f} | {z_bits:.0f} | {at_bound} of "
            f"{symbols} | {bound_bits:.0f} | {gap:+.2f} % | {measured}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
