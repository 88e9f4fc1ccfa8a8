"""`linear_scan`: the one linear-scan contract of traceTorch, defined in core.

``h_t = a_t * h_{t-1} + u_t`` over a whole sequence, with a time-constant factor
(the LI/EMA layers: one or two scans per sequence) or one factor per step; a
registered GPU kernel where one accepts the call. See
``tracetorch._internal.linear_scan`` for the contract and the algorithms.
"""

from __future__ import annotations

from tracetorch._internal import linear_scan

__all__ = ["linear_scan"]
