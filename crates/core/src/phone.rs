//! Any dialable format to E.164. (Filled in by the numbers issue.)
