"""A toy detection-scoring problem on which the ranking losses and focal loss train the
same small scorer (the tests, ``make demo``'s core stage, tools/benchmark_losses.py)."""
