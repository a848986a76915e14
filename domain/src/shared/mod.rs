//! What every aggregate shares: the actor's standing in a project and the
//! rule for writing in it, the rule for text and the text values several
//! aggregates carry (labels, details), and money as the wire carries it. Aggregates import these
//! from here, never from one another (so no aggregate module depends on a
//! sibling for a value they all use).

pub mod access;
pub mod money;
pub mod text;
