"""numba kernels, one module per family; shared building blocks live in ``common``.

Conventions: a family module holds 1-D kernels only: ``<what>_nb`` returns its result,
``<what>_into_nb`` writes one series' outputs into the arrays it is given. Their batch form,
over a batch of series concatenated into one array (segment i being
``x[offsets[i]:offsets[i + 1]]``), is generated once for all by ``driver.segmented``; the
registry in ``compute.indicators`` maps each indicator to its 1-D kernel. Kernels take
float64 arrays, never raise and never validate: the registry checks parameters once, before
any kernel runs.
"""
