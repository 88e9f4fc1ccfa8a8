"""Spike encoders: static or time-varying data to time-major ``[T, ...]`` spike tensors.

* `rate` — Bernoulli (Poisson-like) spikes with a probability per element.
* `latency` — one spike per element, earlier for larger values (log or linear).
* `delta` — spikes where time-major data rise (and, optionally, fall) by a threshold.
* `direct` — the same analogue input at every step.

Every encoder takes any shape, dtype and device, puts time first, and draws its
random numbers (only `rate` has any) from an optional ``torch.Generator``.

Example:
    ```python
    import torch
    import tracetorch as tt

    images = torch.rand(16, 784)
    spikes = tt.encode.rate(images, num_steps=25)       # [25, 16, 784]
    first = tt.encode.latency(images, num_steps=25, normalize=True, linear=True)
    ```
"""

from ._encoders import delta, direct, latency, rate

__all__ = ["rate", "latency", "delta", "direct"]
