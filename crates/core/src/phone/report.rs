//! One line of `wacontacts numbers normalize`: what an input becomes.

use serde::Serialize;

use super::{Convention, candidates};
use crate::ids::ContactRef;

/// The outcome for one input, serialized as
/// `{"input", "e164", "wa_id", "candidates", "error"}` (plus `"lid"` when the input
/// was a LID). On error `e164` and `wa_id` are `null` and `candidates` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The input as given.
    pub input: String,
    /// `+<digits>`.
    pub e164: Option<String>,
    /// The digits (WhatsApp's user part, On-Premises `wa_id`).
    pub wa_id: Option<String>,
    /// Forms to ask WhatsApp about, as E.164, the given form first.
    pub candidates: Vec<String>,
    /// `<digits>@lid` when the input named a person by LID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lid: Option<String>,
    /// Why the input was rejected.
    pub error: Option<ReportError>,
}

/// `{"code", "message"}` of a rejected input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportError {
    /// Stable machine-readable code (`invalid_phone`, `too_short`, ...).
    pub code: &'static str,
    /// Human-readable message naming the input.
    pub message: String,
}

/// Normalizes one input as a person reference (phone number in any form, phone id,
/// LID) under `convention`.
pub fn report(input: &str, convention: &Convention) -> Report {
    let mut r = Report {
        input: input.to_owned(),
        e164: None,
        wa_id: None,
        candidates: Vec::new(),
        lid: None,
        error: None,
    };
    match ContactRef::parse(input, convention) {
        Ok(ContactRef::Phone(p)) => {
            r.e164 = Some(p.e164());
            r.wa_id = Some(p.wa_id());
            r.candidates = candidates(&p).iter().map(|c| c.e164()).collect();
        }
        Ok(ContactRef::Lid(l)) => r.lid = Some(l.to_string()),
        Err(e) => {
            r.error = Some(ReportError {
                code: e.code(),
                message: e.to_string(),
            })
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let r = serde_json::to_value(report("558591203123", &Convention::Waha)).unwrap();
        assert_eq!(
            r,
            serde_json::json!({"input": "558591203123", "e164": "+558591203123", "wa_id": "558591203123",
                "candidates": ["+558591203123", "+5585991203123"], "error": null})
        );
        let r = serde_json::to_value(report("abc", &Convention::Waha)).unwrap();
        assert_eq!(r["error"]["code"], "invalid_phone");
        assert_eq!(r["e164"], serde_json::Value::Null);
        let r = serde_json::to_value(report("1@lid", &Convention::Waha)).unwrap();
        assert_eq!(r["lid"], "1@lid");
    }
}
