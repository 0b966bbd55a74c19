"""Can a dataset train and be evaluated? Checked by the vocab stage before it writes anything.

Without both labels in train there is nothing to learn, and AUC on valid or test is undefined
without both labels there (training died in `auc()` after its first epoch, the search in
`torch.cat()` on an empty split). A split of a handful of rows is refused as well: the bar is
config `min_split_rows`. Above it, a validation split whose AUC standard error is larger than
the differences the tables compare is only warned about.
"""

from __future__ import annotations

from typing import Mapping

from optinter.data.readers import DataError
from optinter.model.metrics import auc_standard_error

SPLITS = ("train", "valid", "test")
MIN_SPLIT_ROWS = 100  # default of config datasets.<name>.min_split_rows (the schema repeats it)
AUC_AT = 0.75         # a typical CTR AUC (Criteo ~0.80, Avazu ~0.78, iPinYou ~0.78, demo ~0.7)
# CTR papers, OptInter's tables among them, call an AUC gain of 0.001 significant: a validation
# split whose AUC is less precise than that cannot rank the models it is asked to rank.
AUC_SE_WARN = 0.001


def setting(dataset: str) -> str:
    """The config key that sets the minimum for `dataset` (planted cases share one)."""
    return "planted.min_split_rows" if dataset.startswith("planted/") else \
        f"datasets.{dataset}.min_split_rows"


def _describe(split: str, rows: int, pos: int) -> str:
    return f"{split} has {rows} rows ({pos} clicks, {rows - pos} non-clicks)"


def check_splits(dataset: str, source: str, counts: Mapping[str, tuple[int, int]],
                 min_rows: int | None) -> list[str]:
    """Raise DataError naming every split (rows, positives) that cannot serve; return warnings.

    `min_rows` None skips the refusal (format tests on real samples whose few clicks leave
    valid or test without one); the warning is still computed.
    """
    if min_rows is not None:
        few = [s for s in SPLITS if counts[s][0] < min_rows]
        one_label = [s for s in SPLITS if counts[s][1] in (0, counts[s][0])]
        if few or one_label:
            needs = []
            if few:
                needs.append(f"at least {min_rows} rows ({setting(dataset)}): use more data, "
                             f"other split fractions or a lower {setting(dataset)}")
            if one_label:
                needs.append("both labels, 0 and 1 (else there is nothing to learn and AUC is "
                             "undefined): check the source's label column, or use more data")
            bad = [_describe(s, *counts[s]) for s in SPLITS if s in few or s in one_label]
            raise DataError(f"dataset {dataset} ({source}) cannot be trained and evaluated: "
                            f"{'; '.join(bad)}. Every split needs {'; and '.join(needs)}")
    rows, pos = counts["valid"]
    se = auc_standard_error(pos, rows - pos, AUC_AT)
    if se <= AUC_SE_WARN:
        return []
    return [f"dataset {dataset}: the validation split has {rows} rows ({pos} clicks): the "
            f"standard error of its AUC is {se:.4f} (Hanley-McNeil at AUC {AUC_AT}), so models "
            f"whose validation AUCs differ by less than about {se:.4f} cannot be told apart "
            f"(early stopping, the validated recipe's choices); more rows or a larger "
            f"split.valid narrow it"]
