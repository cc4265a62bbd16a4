"""What runs in the parent: the runner, the Queue server, merge, outcome, process tree, metrics."""
