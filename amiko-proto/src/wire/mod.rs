//! SSH wire encoding (RFC 4251 §5): bounded readers and writers, and message numbers.

mod reader;
mod writer;
pub mod msg;

pub use reader::Reader;
pub use writer::Writer;
