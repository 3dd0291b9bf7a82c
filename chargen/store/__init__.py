"""What lasts on disk: checkpoints (safe and atomic) and run folders."""
