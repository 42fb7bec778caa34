"""memreplay's version: the one place it is written (pyproject.toml reads it from here), printed
by ``memreplay --version`` and carried by every record."""

__all__ = ["__version__"]

__version__ = "0.4.0"
