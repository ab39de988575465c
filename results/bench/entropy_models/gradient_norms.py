"""The norms that gradient clipping sees in an enhancement stage: the rate–distortion gradient
against the learned quantiles' auxiliary gradient (CompressAI trains those with an optimizer of
its own). Until hmcodec 0.3.1 both were clipped as one norm of 1.0, so a large auxiliary gradient
scaled every step of the transforms; this prints both for a few training batches, from a fresh
codec (the config's first stage, its base loaded) or from a trained model file. Run from the
repository root, e.g.
    python results/bench/entropy_models/gradient_norms.py \
        configs/camvid/entropy_variable_rate.yaml \
        --set model.enhancement_entropy=hyperprior-context \
        --weights runs/entropy-camvid-clip-coupled/hyperprior-context-seed0/model.ckpt
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import lightning as L
import torch
from torch import Tensor

from hmcodec.checkpoint import load_model
from hmcodec.codec.scalable import build_codec
from hmcodec.train.config import load_config
from hmcodec.train.module import CodecModule
from hmcodec.train.run import _load_base, _loader


def norm(gradients: Sequence[Tensor | None]) -> float:
    return float(sum((g.double() ** 2).sum() for g in gradients if g is not None) ** 0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--weights", help="a trained model file (default: the fresh codec)")
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config, args.overrides)
    stage = config.stages[0]
    L.seed_everything(config.seed, verbose=False)
    codec = build_codec(config.model)
    if stage.init_from:
        _load_base(codec, load_model(stage.init_from))
    if args.weights:
        codec.load_state_dict(load_model(args.weights).codec.state_dict())
    module = CodecModule(codec, stage)
    module.train()
    groups = module.configure_optimizers()["optimizer"].param_groups  # type: ignore[index]
    rate_distortion = groups[0]["params"]
    quantiles = groups[1]["params"] if len(groups) > 1 else []
    batches = iter(_loader(config.data["train"], int(config.data.get("batch_size", 8)), 0, True))
    print("batch  RD loss  aux loss  |∇RD|    |∇aux|   joint clip factor  RD-only clip factor")
    for index in range(args.batches):
        loss = module.losses(next(batches))["loss"]
        rd = norm(torch.autograd.grad(loss, rate_distortion, allow_unused=True))
        aux_loss = module._aux_loss()
        aux = norm(torch.autograd.grad(aux_loss, quantiles)) if quantiles else 0.0
        joint = min(1.0, config.trainer.gradient_clip_val / (rd**2 + aux**2) ** 0.5)
        alone = min(1.0, config.trainer.gradient_clip_val / rd)
        print(
            f"{index:5d}  {float(loss.detach()):7.2f}  {float(aux_loss.detach()):8.1f}  "
            f"{rd:7.3f}  {aux:7.3f}  {joint:17.4f}  {alone:19.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
