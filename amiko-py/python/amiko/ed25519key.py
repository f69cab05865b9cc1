"""Paramiko's `ed25519key` module."""

from .pkey import Ed25519Key

__all__ = ["Ed25519Key"]
