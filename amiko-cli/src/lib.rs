//! Library side of the `amiko` command: only what the fuzz targets in `fuzz/` need to reach. Not a stable API.

#[doc(hidden)]
pub mod ssh_config;
