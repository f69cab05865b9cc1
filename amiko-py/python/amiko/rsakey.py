"""Paramiko's `rsakey` module."""

from .pkey import RSAKey

__all__ = ["RSAKey"]
