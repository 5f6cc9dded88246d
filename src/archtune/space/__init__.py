"""Search spaces: encodings, featurization, zero-cost metrics and the space file."""

from archtune.space.encoding import Encoding, decode_key, encoding_key
from archtune.space.featurize import Featurizer
from archtune.space.search_space import SearchSpace, create_search_space, load_search_space

__all__ = [
    "Encoding",
    "Featurizer",
    "SearchSpace",
    "create_search_space",
    "decode_key",
    "encoding_key",
    "load_search_space",
]
