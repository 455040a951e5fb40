//! What a dead-letter queue entry records about why its delivery died, for
//! every backend to write as given: the reason, the attempt that ended it
//! (whose error class becomes the entry's), or the class when no attempt
//! tells it.

use crate::model::ErrorClass;

/// A dead delivery's DLQ entry, before it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub reason: String,
    /// The receipt of the attempt that ended the delivery, if one did.
    pub last_attempt: Option<String>,
    /// The entry's error class when no attempt gives it one.
    pub class: Option<ErrorClass>,
}

impl DeadLetter {
    /// An attempt ended the delivery (retries used up, a permanent failure):
    /// the entry takes that attempt's error class.
    pub fn after_attempt(reason: &str, attempt: &str) -> Self {
        Self {
            reason: reason.to_owned(),
            last_attempt: Some(attempt.to_owned()),
            class: None,
        }
    }

    /// Ended without an attempt: its endpoint is gone or disabled.
    pub fn abandoned(reason: &str) -> Self {
        Self {
            reason: reason.to_owned(),
            last_attempt: None,
            class: None,
        }
    }

    /// An at-most-once delivery whose request may have gone out (its lease
    /// expired, or a shutdown stopped it): it is never sent again, and the
    /// entry says why.
    pub fn outcome_unknown(why: &str) -> Self {
        Self {
            reason: format!(
                "{why}: whether it reached the receiver is unknown, so it is not sent again"
            ),
            last_attempt: None,
            class: Some(ErrorClass::OutcomeUnknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_says_why_and_takes_its_class_from_what_ended_the_delivery() {
        let attempt = DeadLetter::after_attempt("retries exhausted", "att_1");
        assert_eq!(attempt.last_attempt.as_deref(), Some("att_1"));
        assert_eq!(
            attempt.class, None,
            "the attempt's own class is the entry's"
        );
        let gone = DeadLetter::abandoned("the endpoint was deleted");
        assert_eq!((gone.last_attempt, gone.class), (None, None));
        let unknown = DeadLetter::outcome_unknown("the lease expired");
        assert_eq!(unknown.class, Some(ErrorClass::OutcomeUnknown));
        assert!(unknown.reason.starts_with("the lease expired: "));
        assert!(unknown.reason.contains("not sent again"));
    }
}
