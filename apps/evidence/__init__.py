"""Evidence that the ranking losses do what the paper says, at the scale of a CPU:
focal and ranking detectors trained side by side by ``tools/compare.py``."""
