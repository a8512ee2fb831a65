"""quantray: a research platform for learned trading strategies.

Import what you need from the subpackages (``quantray.data``, ``quantray.models``, ...);
this top level imports nothing heavy, and never Ray.
"""

__version__ = "0.1.0"
