"""Built-in search spaces, registered by name."""

from archtune.spaces.registry import SPACES, make_space, register_space

__all__ = ["SPACES", "make_space", "register_space"]
