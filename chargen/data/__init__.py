"""The text side: the vocabulary, corpora read and cached, batches of streams (TBPTT) or items, the shift."""
