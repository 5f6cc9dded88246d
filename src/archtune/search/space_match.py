"""Is the space given to a resumed search the one it was started on? (Or an extension of it?)

A search file stores its space's fingerprint (the encodings in order and how they are featurized, see
:meth:`~archtune.space.search_space.SearchSpace.fingerprint`) and the encodings themselves, compressed. Reopening it with another
space is refused with what differs; reopening it with an *extended* space (every stored encoding still
there, new ones added, e.g. a knob gained a value) is accepted with ``extend_space=True``: every stored
trial is kept, and the strategy is set up on the new space (its encodings, features and pretraining).

Example:
    >>> from archtune import create_search_space
    >>> old = create_search_space("s", None, [(i,) for i in range(3)])
    >>> new = create_search_space("s", None, [(i,) for i in range(5)])
    >>> meta = space_meta(old)
    >>> match_space(meta, old, extend_space=False)
    'same'
    >>> match_space(meta, new, extend_space=True)
    'extended'
    >>> match_space(meta, new, extend_space=False)
    Traceback (most recent call last):
    ...
    archtune.errors.ConfigError: the space has 2 encodings more than the one this search file was started on (e.g. (3,), (4,)); pass extend_space=True to go on over the extended space (every stored trial is kept), or use a new save_filename
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Literal

from archtune.errors import ConfigError
from archtune.space.encoding import decode_key
from archtune.space.product import ProductSpace
from archtune.space.search_space import SearchSpace

FINGERPRINT_KEY = "space_fingerprint"
KEYS_KEY = "space_keys"
KNOBS_KEY = "space_knobs"  # a product space's knobs (its encodings are not listed)


def _pack(keys: Iterable[str]) -> str:
    return base64.b64encode(zlib.compress("\n".join(keys).encode(), 6)).decode("ascii")


def _unpack(text: str) -> list[str]:
    raw = zlib.decompress(base64.b64decode(text)).decode()
    return raw.split("\n") if raw else []


def space_meta(space: SearchSpace | ProductSpace) -> dict[str, str]:
    """What a search file stores of its space."""
    if isinstance(space, ProductSpace):
        return {
            FINGERPRINT_KEY: json.dumps(space.fingerprint(), sort_keys=True),
            KNOBS_KEY: json.dumps(space.specs),
        }
    return {
        FINGERPRINT_KEY: json.dumps(space.fingerprint(), sort_keys=True),
        KEYS_KEY: _pack(space.keys),
    }


def _examples(keys: Iterable[str], n: int = 3) -> str:
    shown: list[str] = []
    for key in keys:
        if len(shown) == n:
            shown.append("...")
            break
        shown.append(repr(decode_key(key)))
    return ", ".join(shown)


def _match_knobs(stored: Mapping[str, str], space: ProductSpace, extend_space: bool) -> Literal["extended"]:
    """A product space against the one a search file was started on: extended (every old option still
    there, knobs in the same order) is accepted with ``extend_space``; anything else is refused."""
    if KNOBS_KEY not in stored:
        raise ConfigError(
            "this search file was started on a listed space (create_search_space with encodings=...), not on "
            "knobs; give the space it was started with, or use a new save_filename"
        )
    old = {k["name"]: k["options"] for k in json.loads(stored[KNOBS_KEY])}
    new = {k["name"]: k["options"] for k in space.specs}
    if list(old) != list(new):
        raise ConfigError(
            f"this search file was started on the knobs {list(old)}, not {list(new)}; give the space it was "
            "started with, or use a new save_filename"
        )
    for name, options in old.items():
        keys = {json.dumps(v) for v in new[name]}
        lost = [v for v in options if json.dumps(v) not in keys]
        if lost:
            raise ConfigError(
                f"knob {name!r} lost the option(s) {lost} this search file was started with; give the space "
                "it was started with, or use a new save_filename"
            )
    if not extend_space:
        raise ConfigError(
            "the knobs have options this search file was not started with; pass extend_space=True to go on over "
            "the extended space (every stored trial is kept), or use a new save_filename"
        )
    return "extended"


def match_space(
    stored: Mapping[str, str], space: SearchSpace | ProductSpace, extend_space: bool
) -> Literal["new", "same", "extended"]:
    """Compare ``space`` with the space a search file was started on.

    Returns ``"new"`` when the file stores no fingerprint (a new search, or one written before
    fingerprints existed), ``"same"``, or ``"extended"`` (accepted because ``extend_space``).

    Raises:
        ConfigError: the space differs, saying how; or it is an extension and ``extend_space`` is False.
    """
    if FINGERPRINT_KEY not in stored:
        return "new"
    fingerprint = space.fingerprint()
    if json.loads(stored[FINGERPRINT_KEY]) == json.loads(json.dumps(fingerprint, sort_keys=True)):
        return "same"
    if isinstance(space, ProductSpace):
        return _match_knobs(stored, space, extend_space)
    if KNOBS_KEY in stored:
        raise ConfigError(
            "this search file was started on a knobs space, not on a list of encodings; give the space it was "
            "started with, or use a new save_filename"
        )
    try:
        old_keys = _unpack(stored[KEYS_KEY])
    except (KeyError, ValueError, zlib.error) as err:
        raise ConfigError(
            f"the search file's record of its space is unreadable ({err}); use a new save_filename"
        ) from err
    old, new = set(old_keys), set(space.keys)
    missing = [k for k in old_keys if k not in new]
    if missing:
        added = len(new - old)
        raise ConfigError(
            f"this search file was started on another space: {len(missing)} of its {len(old)} encodings are "
            f"not in the given space (e.g. {_examples(missing)}){f' and {added} are new' if added else ''}; "
            "give the space it was started with, or use a new save_filename"
        )
    if extend_space:
        return "extended"
    added_keys = [k for k in space.keys if k not in old]
    if added_keys:
        raise ConfigError(
            f"the space has {len(added_keys)} encodings more than the one this search file was started on "
            f"(e.g. {_examples(added_keys)}); pass extend_space=True to go on over the extended space "
            "(every stored trial is kept), or use a new save_filename"
        )
    raise ConfigError(
        "the space has the encodings this search file was started on, but orders or featurizes them "
        "differently; pass extend_space=True to go on with the new featurization (every stored trial is "
        "kept), or give the space it was started with"
    )
