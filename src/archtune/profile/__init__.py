"""Zero-cost profiling of networks (parameters, FLOPs, latency, peak memory)."""

from archtune.profile.runner import profile_encodings
from archtune.profile.zero_cost import COUNTED_METRICS, METRICS, profile_module

__all__ = ["COUNTED_METRICS", "METRICS", "profile_encodings", "profile_module"]
