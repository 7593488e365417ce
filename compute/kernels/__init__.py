"""numba kernels, one module per family; shared building blocks live in ``common``.

Conventions: a family module holds 1-D kernels only: ``<what>_nb`` returns its result,
``<what>_into_nb`` writes one series' outputs into the arrays it is given. Their batch form,
over a batch of series concatenated into one array (segment i being
``x[offsets[i]:offsets[i + 1]]``), is generated once for all by ``driver.segmented``; the
registry in ``compute.indicators`` maps each indicator to its 1-D kernel. Kernels take
float64 arrays, never raise and never validate: the registry checks parameters once, before
any kernel runs.
"""

import hashlib
from pathlib import Path

import numba
from numba.core import config


def source_digest(folder: Path = Path(__file__).parent) -> str:
    """A digest of this package's sources and numba's version: the name of the folder in
    numba's cache that holds kernels compiled from exactly these sources."""
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


SOURCE_DIGEST = source_digest()

# Kernels inline kernels of other modules, and numba checks only the timestamp of a cached
# function's own file: after an edit of ma.py, momentum.py's cached kernels would still hold
# the old moving average (seen while merging this package's rewrites). With a cache folder
# (NUMBA_CACHE_DIR, which barpipe's runs always set) the kernels compile into a subfolder of
# it per digest of these sources, so changed sources never load code compiled from others.
if config.CACHE_DIR and Path(config.CACHE_DIR).name != f"kernels-{SOURCE_DIGEST}":
    config.CACHE_DIR = str(Path(config.CACHE_DIR) / f"kernels-{SOURCE_DIGEST}")
