"""What a model learned, as plain records (surprise, neurons, gradient flow, novelty) and rendered."""
