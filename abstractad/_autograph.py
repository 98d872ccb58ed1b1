"""Keep TensorFlow's AutoGraph out of abstractad's own code."""

from __future__ import annotations

import sys


def skip_autograph() -> None:
    """Tell AutoGraph to leave abstractad's modules alone, as it leaves TensorFlow's own: the
    operators and bridges are graph-compatible already, and converting them inside a user's
    ``tf.function`` only costs time and warnings. The user's `f` is still converted as usual.
    Does nothing unless TensorFlow is imported already."""
    if "tensorflow" not in sys.modules:
        return
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:  # a TensorFlow without this private module: AutoGraph converts, harmlessly
        return
    rules = config.CONVERSION_RULES
    if not any(isinstance(r, config_lib.DoNotConvert) and getattr(r, "_prefix", None) == "abstractad" for r in rules):
        config.CONVERSION_RULES = (config_lib.DoNotConvert("abstractad"), *rules)
