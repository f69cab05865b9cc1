//! SSH wire encoding (RFC 4251 §5): bounded readers and writers, and message numbers.

pub mod msg;
mod reader;
mod writer;

pub use reader::Reader;
pub use writer::Writer;
