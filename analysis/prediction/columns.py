"""The column names of a prediction-powered campaign's unit table, in one place.

One row per injection ("unit"): its ``id``, whether it ended by itself before the horizon
(``exact``: its outcome is known at no extra cost), the strata columns, the feature columns
recorded at the horizon, and, once the selection is drawn, its inclusion ``probability`` and
whether it is ``labelled`` (run to its end). ``outcome`` holds the true outcome class of the
labelled units; it is ignored (and may be missing) for the others.
"""

from __future__ import annotations

ID = "id"
EXACT = "exact"
PROBABILITY = "probability"
LABELLED = "labelled"
OUTCOME = "outcome"
