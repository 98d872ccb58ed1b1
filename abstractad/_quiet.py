"""Engines' start-up noise kept from the user's terminal.

TensorFlow's C++ runtime writes informational lines to file descriptor 2 while it is imported
(``oneDNN custom operations are on``, the CPU-feature notice, absl's "log messages before
InitializeLog" banner), before its own logging can be configured, so ``TF_CPP_MIN_LOG_LEVEL``
does not reach them. Around the import, file descriptor 2 goes to a temporary file; afterwards
every line that is not one of these known notices is written back, so real errors still show.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence

# Fragments of the start-up lines that carry no information for a user of abstractad.
TENSORFLOW_NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation placer already registered",
    "TF-TRT Warning: Could not find TensorRT",
    "Could not find cuda drivers on your machine",
)


@contextlib.contextmanager
def native_stderr_filtered(noise: Sequence[str]) -> Iterator[None]:
    """File descriptor 2 into a temporary file while inside; then the lines that match none of
    `noise` are written back to it (to wherever it pointed before, in their order)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no file descriptor 2 (an embedded interpreter)
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            kept = [line for line in text.splitlines() if not any(n in line for n in noise)]
            if kept:
                os.write(2, ("\n".join(kept) + "\n").encode())


def import_tensorflow() -> object:
    """``import tensorflow``, without its start-up notices on the terminal (see the module docstring)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with native_stderr_filtered(TENSORFLOW_NOISE):
        import tensorflow

    return tensorflow
