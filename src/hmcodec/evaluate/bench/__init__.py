"""Coding speed, peak memory and rate gap of hmcodec against CompressAI's models.

Every coder runs on the same images in the same process, image by image, coder after coder
(interleaved, so a slow-down of the machine hits all of them alike):

* hmcodec, per layer: ``base`` (encode: base analysis, rounding, base entropy coder; decode:
  :func:`~hmcodec.codec.api.decode` of the base-only stream, i.e. entropy decoding, base
  synthesis and the task head), ``enhancement`` (the method's ``compress``/``decompress``
  given the decoded base latent: side information, entropy coding, synthesis) and ``all``
  (the public :func:`~hmcodec.codec.api.encode` and ``decode(..., "all")``);
* CompressAI's ``bmshj2018-hyperprior`` (:class:`~compressai.models.ScaleHyperprior`) and
  ``mbt2018`` (:class:`~compressai.models.JointAutoregressiveHierarchicalPriors`) built with
  random weights at the hmcodec model's latent sizes: ``M`` = the base or enhancement latent
  channels, ``N`` = the hmcodec transform width; ``update()``, then ``compress``/``decompress``
  on the image padded to a multiple of 64.

Times are wall-clock (``time.perf_counter``) per image, the median of ``repeat`` runs; a
row's time is the mean of its per-image medians and its MPix/s is the images' pixels over the
sum of those medians. Peak memory is measured once per coder on the first image, in an extra
untimed run that also serves as warm-up: ``tracemalloc``'s peak (Python allocations only; torch
tensors are not seen) and the peak resident set size above the level before the call, sampled
every 2 ms from ``/proc/self/statm`` (``ru_maxrss`` growth where ``/proc`` is missing, which is
0 unless the process reaches a new high-water mark). The rate gap is
``(measured bits − estimated bits) / estimated bits`` summed over the images, measured from the
coded strings (payload, no container) and estimated from the same latents' likelihoods.

Split by job: :mod:`.coders` (what is timed), :mod:`.memory` (peak memory), :mod:`.report`
(rows, JSON, markdown), :mod:`.runner` (:func:`run_benchmark`) and :mod:`.loaders` (images,
random-weight models); this package re-exports their public names.
"""

from hmcodec.compressai_lazy import install as _install_compressai

_install_compressai()  # before the first CompressAI import: its models without its datasets

from hmcodec.evaluate.bench.coders import (  # noqa: E402
    REFERENCES,
    Coder,
    amplify,
    compressai_coder,
    compressai_model,
    hmcodec_coders,
    reference_coders,
)
from hmcodec.evaluate.bench.loaders import load_images, random_model  # noqa: E402
from hmcodec.evaluate.bench.memory import MIB, peak_memory  # noqa: E402
from hmcodec.evaluate.bench.report import BenchResult, BenchRow  # noqa: E402
from hmcodec.evaluate.bench.runner import run_benchmark  # noqa: E402

__all__ = [
    "MIB",
    "REFERENCES",
    "BenchResult",
    "BenchRow",
    "Coder",
    "amplify",
    "compressai_coder",
    "compressai_model",
    "hmcodec_coders",
    "load_images",
    "peak_memory",
    "random_model",
    "reference_coders",
    "run_benchmark",
]
