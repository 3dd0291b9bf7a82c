"""How unlike its training text each benchmark corpus's validation text is (chargen.data.shift), the figure
the time-budget recipe gives dropout by, beside the bigram cross-entropies it is the difference of.

    python -m bench.shift                              # every corpus of bench/corpora.py
    python -m bench.shift --corpora python-code cpp-code
"""

from __future__ import annotations

import argparse
import time

from bench import corpora
from chargen.data.corpus import load_corpus
from chargen.data.shift import bigram_costs
from chargen.train.recipe import SHIFT_FOR_DROPOUT

VAL_FRACTION = 0.1  # chargen train's default, as bench/quality.py runs it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", default=list(corpora.CORPORA))
    args = parser.parse_args()
    print(f"{'corpus':>20}  {'train end':>9}  {'validation':>10}  {'shift':>6}  {'seconds':>7}  dropout from the shift "
          f"(at {SHIFT_FOR_DROPOUT:+.2f} or more)")
    for name in args.corpora:
        corpus = load_corpus([corpora.get(name)])
        train, val = corpus.split(VAL_FRACTION)
        start = time.perf_counter()
        costs = bigram_costs(train, val, corpus.vocab.size)
        seconds = time.perf_counter() - start
        if costs is None:
            print(f"{name:>20}  too short to measure")
            continue
        near, far = costs
        shift = far - near
        print(f"{name:>20}  {near:9.3f}  {far:10.3f}  {shift:+6.3f}  {seconds:7.2f}  "
              f"{'yes' if shift >= SHIFT_FOR_DROPOUT else 'no'}")


if __name__ == "__main__":
    main()
