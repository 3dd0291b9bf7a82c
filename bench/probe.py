"""How well the time-budget recipe's speed probe predicts the speed training sustains on this machine,
beside how much the machine's own speed swings from one few-second window to the next.

    python -m bench.probe                    # 6 rounds: the probe, then 6 s of the same training steps
    python -m bench.probe --rounds 10 --seconds 10

The recipe (chargen/train/recipe.py) times a few steps of the reference model and takes a model one size
wider when the budget, at that speed, feeds it (recipe.feeding_speed: CHARS_PER_WEIGHT characters per
recurrent weight of it, fewer where the run would press it hardest). Where the machine's speed sits
near such a threshold, the choice moves with the probe; this prints the speeds a 2x256 must probe at
for each budget, so the spread below can be read against them.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from chargen.train import measure, recipe  # noqa: E402

VOCAB = 65  # tinyshakespeare's


def sustained_speed(model: dict, device: torch.device, seconds: float, guess: float) -> float:
    """Characters per second of the probe's own training steps, as many as take about `seconds` at the
    speed `guess`."""
    steps = max(1, round(seconds * guess / (recipe.BATCH["batch_size"] * recipe.BATCH["seq_len"])))
    return measure.measure_speed(VOCAB, device, "fp32", model, steps=steps)


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    return (f"mean {mean:8,.0f}  min {min(values):8,.0f}  max {max(values):8,.0f}  "
            f"coefficient of variation {statistics.stdev(values) / mean:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each sustained window")
    args = parser.parse_args()
    layers, width = recipe.REFERENCE
    model = {"cell": "lstm", "layers": layers, "hidden_size": width}
    device = torch.device("cpu")
    probes, windows = [], []
    print(f"LSTM {layers}x{width}, batch {recipe.BATCH['batch_size']} x {recipe.BATCH['seq_len']}, fp32, "
          f"{torch.get_num_threads()} threads; chars/s")
    for i in range(args.rounds):
        probes.append(measure.measure_speed(VOCAB, device, "fp32", model))
        windows.append(sustained_speed(model, device, args.seconds, probes[-1]))
        print(f"round {i + 1}: probe {probes[-1]:8,.0f}  then {args.seconds:g} s of training {windows[-1]:8,.0f}", flush=True)
    print(f"probe:     {spread(probes)}")
    print(f"sustained: {spread(windows)}")
    print(f"probe / the window after it: {statistics.mean(p / w for p, w in zip(probes, windows)):.3f}")
    task = recipe.Task(VOCAB, 1_003_854)
    fed_from = lambda size, minutes: recipe.feeding_speed(task, size, minutes * 60)  # noqa: E731
    # The next size up is timed only if the reference probes fast enough for the recipe's estimate of its
    # speed (weights^0.85 of the reference's) to feed it; then its own measured speed decides.
    wider = next(s for s in recipe.SIZES if recipe.recurrent_weights(task, *s) > recipe.recurrent_weights(task, *recipe.REFERENCE))
    ratio = (recipe.weights(task, *recipe.REFERENCE) / recipe.weights(task, *wider)) ** 0.85
    for minutes in (2.5, 5, 10):
        print(f"{minutes:g} minutes: a {layers}x{width} is fed from {fed_from(recipe.REFERENCE, minutes):8,.0f} chars/s; "
              f"a {wider[0]}x{wider[1]} is timed from {fed_from(wider, minutes) / ratio:8,.0f} of the {layers}x{width}'s")


if __name__ == "__main__":
    main()
