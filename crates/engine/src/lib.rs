//! WhatsApp sessions on whatsapp-rust. (Filled in by the engine issue.)
