//! Who is on a voice call, and which appointments they may hear about.
//!
//! The rule: on a call that carries the caller's number (caller ID), finding
//! an appointment by phone number, and cancelling or moving one by its date,
//! act only on appointments booked with **that** number. Any appointment can
//! be cancelled or moved with its confirmation code, from any number: the
//! code is spoken only to whoever booked, so holding it is the proof (someone
//! booking for a relative from their own phone can pass it on). A call
//! without a caller number (a web call, a withheld number) can only use the
//! code. Whatever was asked, the details of an appointment booked with
//! another number (its code, its purpose, the name it was booked under) are
//! not told to the caller.

use crate::appointment::Appointment;
use crate::person::PhoneNumber;

/// The person on a voice call, as far as the privacy of appointments goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The number the call comes from, when the network gave one that reads
    /// as a phone number.
    number: Option<PhoneNumber>,
}

/// A phone number whose appointments the caller may search by number: the
/// one they call from. Only [`Caller::searchable`] makes one, so appointments
/// can only be looked up by phone through the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnNumber(PhoneNumber);

impl OwnNumber {
    pub fn phone(&self) -> &PhoneNumber {
        &self.0
    }
}

/// Why the caller may not search a number's appointments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrivacyRefusal {
    /// A number other than the one calling, without a confirmation code.
    #[error("appointments of a number other than the caller's need the confirmation code")]
    OtherNumber,
    /// The call has no caller number, and no confirmation code was given.
    #[error("a call without a caller number needs the confirmation code")]
    NoCallerNumber,
}

impl PrivacyRefusal {
    /// A stable label for answers and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OtherNumber => "other_number",
            Self::NoCallerNumber => "no_caller_number",
        }
    }
}

impl Caller {
    /// `number`: the caller ID, `None` for a web call or a withheld number.
    pub fn new(number: Option<PhoneNumber>) -> Self {
        Self { number }
    }

    /// The number the call comes from.
    pub fn number(&self) -> Option<&PhoneNumber> {
        self.number.as_ref()
    }

    /// The number whose appointments this caller may search: their own,
    /// whether `asked` is left out or names the same number (in any
    /// spelling: both are E.164). Another number, or any number on a call
    /// without caller ID, is refused.
    pub fn searchable(&self, asked: Option<&PhoneNumber>) -> Result<OwnNumber, PrivacyRefusal> {
        match (&self.number, asked) {
            (Some(own), None) => Ok(OwnNumber(own.clone())),
            (Some(own), Some(asked)) if asked == own => Ok(OwnNumber(own.clone())),
            (Some(_), Some(_)) => Err(PrivacyRefusal::OtherNumber),
            (None, _) => Err(PrivacyRefusal::NoCallerNumber),
        }
    }

    /// Whether this caller may be told `appointment`'s details (its
    /// confirmation code, purpose and name): it was booked with the number
    /// they call from.
    pub fn owns(&self, appointment: &Appointment) -> bool {
        self.number.as_ref() == Some(appointment.customer_phone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::PhoneRegion;

    fn phone(raw: &str) -> PhoneNumber {
        PhoneNumber::parse(raw, PhoneRegion::default()).unwrap()
    }

    #[test]
    fn a_caller_searches_only_their_own_number() {
        let caller = Caller::new(Some(phone("+14155550100")));
        let own = phone("(415) 555-0100");
        assert_eq!(caller.searchable(None).unwrap().phone(), &own);
        assert_eq!(caller.searchable(Some(&own)).unwrap().phone(), &own);
        assert_eq!(
            caller.searchable(Some(&phone("+14155550199"))),
            Err(PrivacyRefusal::OtherNumber)
        );
    }

    #[test]
    fn a_call_without_a_caller_number_searches_no_number() {
        let caller = Caller::new(None);
        assert_eq!(caller.searchable(None), Err(PrivacyRefusal::NoCallerNumber));
        assert_eq!(
            caller.searchable(Some(&phone("+14155550100"))),
            Err(PrivacyRefusal::NoCallerNumber)
        );
    }
}
