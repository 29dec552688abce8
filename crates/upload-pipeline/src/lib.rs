//! What every bgjobs consumer shares, whatever its job type: the numbered job
//! events of one delivery ([`Emitter`]).

pub mod emitter;

pub use emitter::Emitter;
