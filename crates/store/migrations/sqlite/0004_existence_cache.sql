-- What WhatsApp answered to "is this number on WhatsApp?", per session and number
-- asked: the ban guard answers from here before spending a lookup.
CREATE TABLE existence_cache (
    session    TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    phone      TEXT NOT NULL,  -- E.164 digits as asked
    on_wa      INTEGER NOT NULL,
    canonical  TEXT,           -- the number as WhatsApp knows it, when on WhatsApp
    lid        TEXT,           -- LID digits learned with the answer
    checked_ms INTEGER NOT NULL,
    PRIMARY KEY (session, phone)
) STRICT, WITHOUT ROWID;
