//! Jid, Lid, PhoneNumber, ContactRef: parsed at the edge. (Filled in by the numbers issue.)
