"""The ops of `tracetorch.kernels`: each in ``ops/<op>/`` with a pure-PyTorch
``naive.py`` (the reference) and a Triton ``fused.py`` (loaded lazily)."""

__all__: list[str] = []
