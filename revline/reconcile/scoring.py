"""The scored tier's similarity of candidate pairs: email and name (rapidfuzz), an invoice
number quoted, the same amount.

Runs on the residue the exact and tolerance tiers left, already blocked by DuckDB to pairs of
the same currency and a near amount and date (or a quoted invoice number), so it scores a few
candidates per entry, not a cross product. The pairs arrive as columns (NumPy arrays fetched
from DuckDB) and are scored in one call per field, in rapidfuzz's C++ on every core: a
million-row export may leave hundreds of thousands of candidates, too many for a Python loop.
Ranking the candidates and deciding which are applied is the engine's (DuckDB).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

EMAIL_WEIGHT = 0.45
NAME_WEIGHT = 0.25
REFERENCE_WEIGHT = 0.2
AMOUNT_WEIGHT = 0.1

Texts = npt.NDArray[np.object_]
Flags = npt.NDArray[np.bool_]


def scores(
    left_mailboxes: Texts,
    right_mailboxes: Texts,
    left_names: Texts,
    right_names: Texts,
    reference_hits: Flags,
    same_amounts: Flags,
) -> npt.NDArray[np.float64]:
    """How alike each pair is, 0..1 to four places. Mailboxes are canonical (lower case, no
    ``+tag``) and names lower case, as the engine selects them; an empty one scores nothing."""
    email = _similarity(left_mailboxes, right_mailboxes, fuzz.ratio)
    name = _similarity(left_names, right_names, fuzz.token_sort_ratio)
    score: npt.NDArray[np.float64] = (
        EMAIL_WEIGHT * email
        + NAME_WEIGHT * name
        + REFERENCE_WEIGHT * reference_hits
        + AMOUNT_WEIGHT * same_amounts
    )
    return np.round(score, 4)


def _similarity(left: Texts, right: Texts, scorer: Callable[..., float]) -> npt.NDArray[np.float64]:
    """Each pair's similarity, 0..1; 0 where either side is empty (two empty strings are
    otherwise alike)."""
    similar = process.cpdist(left, right, scorer=scorer, dtype=np.float64, workers=-1) / 100
    return np.where((left != "") & (right != ""), similar, 0.0)
