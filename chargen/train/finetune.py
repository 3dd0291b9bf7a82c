"""Starting a run from a trained model (--init-from): its architecture and weights, its vocabulary
grown by the characters of the new text that it never saw.

Characters are sorted by code point in every vocabulary, so a grown vocabulary moves known characters
to new ids: their embedding and output rows move with them. A new character's embedding starts as the
average of the known ones ("some character"), and its output row at zero weight with the lowest known
bias, so it starts as unlikely as the rarest character the model knows and is learned from there.
"""

from __future__ import annotations

from typing import Any

import torch

from chargen.data.vocab import Vocab
from chargen.store.record import Checkpoint

ARCHITECTURE = ("cell", "layers", "hidden_size", "embed_dim")  # what a fine-tuned model keeps of its parent


def grown_vocab(parent: Vocab, text: Vocab) -> Vocab:
    """The parent's characters and the new text's, together."""
    return Vocab("".join(sorted(set(parent.chars) | set(text.chars))))


def transplant(weights: dict[str, torch.Tensor], parent: Vocab, vocab: Vocab) -> dict[str, torch.Tensor]:
    """The parent's weights laid out for `vocab` (a superset of the parent's characters)."""
    old = torch.tensor([vocab.chars.index(ch) for ch in parent.chars])  # new id of each parent id
    grown = dict(weights)

    def rows(table: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        out = fill.expand(vocab.size, *table.shape[1:]).clone()
        out[old] = table
        return out

    if "embed.weight" in weights:  # (V, E)
        grown["embed.weight"] = rows(weights["embed.weight"], weights["embed.weight"].mean(0))
    else:  # one-hot input: the first layer's input weights have a column per character, (G*H, V)
        w = weights["rnn.weight_ih_l0"]
        grown["rnn.weight_ih_l0"] = rows(w.T, w.T.mean(0)).T.contiguous()
    head_w, head_b = weights["head.weight"], weights["head.bias"]  # (V, H), (V,)
    grown["head.weight"] = rows(head_w, torch.zeros(head_w.shape[1]))
    grown["head.bias"] = rows(head_b[:, None], head_b.min()[None])[:, 0].contiguous()
    return grown


def parent_record(path: str, parent: Checkpoint) -> dict[str, Any]:
    """What a fine-tuned run records of its parent (`chargen info` shows it)."""
    return {"checkpoint": path, "weights_sha256": parent.weights_sha256, "corpus": parent.corpus.sources,
            "step": parent.position.step, "best_val_loss": parent.position.best_val_loss}
