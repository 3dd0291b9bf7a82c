"""Training: the step, the loop, its loss, optimizer and schedule, the time-budget recipe, launch, processes."""
