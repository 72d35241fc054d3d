//! Contacts as the service sees them. (Grows with the contacts issues.)
