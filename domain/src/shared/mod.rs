//! What every aggregate shares: the actor's standing in a project and the
//! rule for writing in it, and the rule for text. Aggregates import these
//! from here, never from one another (so no aggregate module depends on a
//! sibling for a value they all use).

pub mod access;
pub mod text;
