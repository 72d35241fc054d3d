//! Traits the services need from the outside world: storage and WhatsApp.
