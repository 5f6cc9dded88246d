from __future__ import annotations

import pytest

from archtune.errors import UnknownNameError
from archtune.spaces import make_space
from archtune.strategy import make_strategy


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(
        UnknownNameError,
        match="unknown space 'x'; valid: digits_cnn, mobileone, mobileone_swiftformer, naap440, nb201",
    ):
        make_space("x")
    with pytest.raises(UnknownNameError, match="valid: bo, ls, random, rea, spline"):
        make_strategy("x")


def test_builtin_space_by_name():
    space = make_space("digits_cnn")
    assert len(space) == 72 and space.encoding_to_net is not None
