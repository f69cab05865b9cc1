"""Paramiko's `ecdsakey` module."""

from .pkey import ECDSAKey

__all__ = ["ECDSAKey"]
