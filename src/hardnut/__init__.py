"""hardnut: hardened Nuitka release builds, and proof of what an artifact contains."""

__version__ = "0.1.0"
