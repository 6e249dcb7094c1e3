"""beautytune: fine-tune pretrained models on beauty data; predict anywhere."""

import os as _os

# OpenMP reads its wait policy once, when torch loads it: passive, so that threads waiting
# for work sleep instead of spinning on cores another process needs (runtime.configure_threads)
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
