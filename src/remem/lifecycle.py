"""Old home of the maintenance settings, kept because remem 0.1's README imported them
from here. They live in ``remem.config`` (and are exported from ``remem``); maintenance
itself is ``remem.maintain``."""

from .config import ForgetPolicy, MaintainConfig

__all__ = ["ForgetPolicy", "MaintainConfig"]
