//! The one error type of the domain: a refusal that names the field, the value
//! and what would have been accepted.

/// A value was refused. The message reads as one line a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?} is not valid: {reason}")]
pub struct DomainError {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

impl DomainError {
    pub fn new(field: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field,
            value: value.into(),
            reason: reason.into(),
        }
    }
}
