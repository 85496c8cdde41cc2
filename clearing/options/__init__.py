"""European options: series, Black-76 pricing, the IV surface, standard and portfolio margin.

Pure and deterministic like the rest of ``clearing``: no clock, no I/O, no randomness;
time arrives as integer nanoseconds. Floats (numpy float64) live only inside the pricing
and scenario kernels; every money figure leaves them as an integer in settlement minor
units, rounded against the account (``money``). See docs/options.md.
"""
