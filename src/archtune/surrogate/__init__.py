"""Surrogate models: the deep ensemble (paper 000)."""

from archtune.surrogate.ensemble import PRETRAINING_MODES, DeepEnsemble, EnsembleConfig

__all__ = ["PRETRAINING_MODES", "DeepEnsemble", "EnsembleConfig"]
