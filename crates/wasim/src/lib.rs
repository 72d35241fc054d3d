//! A loopback WhatsApp server. (Filled in by the wasim issue.)
