"""A run in progress as a checkpoint holds it: the model and optimizer, the position, the carried state
of every stream and the random generators, so that a resumed run continues bit for bit."""

from __future__ import annotations

import random
from dataclasses import replace

import torch

from chargen.config import ModelConfig, TrainConfig
from chargen.data.corpus import Corpus
from chargen.model.charrnn import CharRNN, State
from chargen.store.record import Checkpoint, CorpusFacts, Position, ResumeState
from chargen.train.distributed import Single
from chargen.train.optim import make_optimizer


class TrainState:
    """Builds a run's model, optimizer and generators from its seed; snapshots and restores them."""

    def __init__(self, model_config: ModelConfig, cfg: TrainConfig, device: torch.device, group: Single,
                 output_counts: torch.Tensor, init_weights: dict[str, torch.Tensor] | None = None) -> None:
        self.model_config, self.cfg, self.device, self.group = model_config, cfg, device, group
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.model = CharRNN(model_config).to(device)
        if init_weights is not None:
            self.model.load_state_dict(init_weights)
        else:
            self.model.init_output_bias(output_counts)
        group.seed_generators(cfg.seed)
        self.net = group.wrap(self.model)  # what training steps run through
        self.optimizer = make_optimizer(self.model, cfg)
        self.pos = Position()
        self.state: State = self.fresh_state()

    def fresh_state(self) -> State:
        """Zero state for every stream of this process's share of the batch."""
        return self.model.init_state(self.cfg.batch_size, self.device)

    def snapshot(self, corpus: Corpus, parent: dict | None, resumable: bool) -> Checkpoint:
        """The checkpoint of this moment; a collective: every process hands in its streams' state and generators."""
        weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        checkpoint = Checkpoint(
            model_config=self.model_config, vocab=corpus.vocab, weights=weights,
            corpus=CorpusFacts(list(corpus.sources), corpus.sha256, corpus.encoding, len(corpus)),
            train_config=self.cfg, position=replace(self.pos), world_size=self.group.world, parent=parent)
        if resumable:
            mine = {
                "state": [s.detach().cpu().clone() for s in self.state],
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "python": random.getstate(),
            }
            ranks = self.group.gather(mine)
            checkpoint.resume = ResumeState(
                optimizer=self.optimizer.state_dict(),
                # Every process's streams side by side: (L, world x B, H), the one-process layout.
                state=[torch.cat(parts, dim=1) for parts in zip(*(r["state"] for r in ranks))],
                rng=[{k: r[k] for k in ("torch", "cuda", "python")} for r in ranks])
        return checkpoint

    def restore(self, checkpoint: Checkpoint) -> None:
        assert checkpoint.resume is not None, "only a resumable checkpoint is restored"
        self.model.load_state_dict(checkpoint.weights)
        resume = checkpoint.resume
        self.optimizer.load_state_dict(resume.optimizer)
        self.pos = replace(checkpoint.position)
        B, rank = self.cfg.batch_size, self.group.rank
        self.state = tuple(s[:, rank * B:(rank + 1) * B].to(self.device) for s in resume.state)
        rng = resume.rng[rank]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        random.setstate(rng["python"])
