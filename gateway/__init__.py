"""FieldCheck gateway package.

One BLAS thread per computation unless the operator says otherwise: a check's 1:N searches are
small matrix products that run two at a time (two fingers of a check, or checks in flight on
several cores), and with
OpenBLAS's default of one thread per core each product waits for a second thread that is busy
with the other check. Measured on the 2-core machine with other work running: a 10k-face search
p50 7.9 ms / p95 14.6 ms with two BLAS threads, 0.28 / 3.6 ms with one. Set before numpy is
imported (the ``fieldcheck`` entry point imports this package first); an explicit
``OPENBLAS_NUM_THREADS`` in the environment is kept.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
