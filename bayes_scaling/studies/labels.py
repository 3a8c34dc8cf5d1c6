"""Method labels and published Chinchilla fits shared by the replication and the backtest."""

from __future__ import annotations

import pandas as pd

#: Method labels used in every table.
BAYES_NORMAL = "Bayes, normal"


BAYES_STUDENT_T = "Bayes, Student-t"


APPROACH3 = "Approach 3 + bootstrap (ours)"


BESIROGLU = "Besiroglu et al. 2024 (published)"


HOFFMANN = "Hoffmann et al. 2022 (published)"


BAYES_LABELS = {"normal": BAYES_NORMAL, "student_t": BAYES_STUDENT_T}


PARAMS = ("E", "A", "alpha", "B", "beta")


#: Besiroglu et al. (2024), Huber refit of the digitised data: point estimates ...
BESIROGLU_2024: dict[str, float] = {"E": 1.817, "A": 482.0, "alpha": 0.348, "B": 2085.4,
                                    "beta": 0.366}


#: ... and their 95% bootstrap intervals.
BESIROGLU_2024_CI95: dict[str, tuple[float, float]] = {
    "E": (1.769, 1.871), "A": (285.2, 743.6), "alpha": (0.317, 0.373),
    "B": (1042.4, 5810.3), "beta": (0.331, 0.415),
}


#: Besiroglu et al.'s refit from Hoffmann's full 4,500-point initialisation grid.
BESIROGLU_FULL_GRID: dict[str, float] = {"E": 1.817, "A": 477.8, "alpha": 0.3473,
                                         "B": 2143.9, "beta": 0.3672}


#: Hoffmann et al. (2022), Approach 3 on their full (unpublished) data; no valid intervals.
HOFFMANN_2022: dict[str, float] = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7,
                                   "beta": 0.28}


def runs_only(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical columns only (no ``group``: each table here is fitted on its own)."""
    return frame[[c for c in ("N", "D", "C", "loss") if c in frame.columns]].reset_index(drop=True)
