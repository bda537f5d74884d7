"""The stages of `make demo` (tools/demo.py), each runnable on its own."""
