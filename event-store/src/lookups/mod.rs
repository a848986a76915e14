//! Typed facts read from the stream.
