"""numba kernels, one module per family; shared building blocks live in ``common``.

Conventions: ``<what>_nb`` works on one series, ``<what>_seg_nb`` on a batch of series
concatenated into one array, segment i being ``x[offsets[i]:offsets[i + 1]]``. Kernels take
float64 arrays, allocate their outputs, never raise and never validate: the registry in
``compute.indicators`` checks parameters once, before any kernel runs.
"""
