"""chaoslab's command line: `chaoslab` (`main`, with `run`, `score` and `testbed`) and `sim` (`sim`).

The only package that imports every layer; each command parses its options and calls the library.
Shared helpers (one-line errors, logging) are in `common`.
"""
