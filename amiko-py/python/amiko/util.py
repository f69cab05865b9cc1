"""A few of Paramiko's ``util`` helpers."""

import logging

__all__ = ["log_to_file", "get_logger"]


def get_logger(name):
    return logging.getLogger(name)


def log_to_file(filename, level=logging.DEBUG):
    """Sends amiko's (and paramiko-style) log records to ``filename``."""
    logger = logging.getLogger("amiko")
    if any(isinstance(h, logging.FileHandler) and h.baseFilename == filename for h in logger.handlers):
        return
    logger.setLevel(level)
    handler = logging.FileHandler(filename)
    handler.setFormatter(logging.Formatter("%(levelname)-.3s [%(asctime)s] %(name)s: %(message)s", "%Y%m%d-%H:%M:%S"))
    logger.addHandler(handler)
