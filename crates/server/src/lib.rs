//! The wacontacts server: configuration, wiring, CLI and the HTTP app.
