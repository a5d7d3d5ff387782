-- pricetrack on PostgreSQL: user accounts.
-- Ids are native uuid (UUIDv7: id order is creation order); timestamps are timestamptz written
-- at millisecond precision, as every pricetrack store keeps them.

CREATE TABLE users (
    id            uuid        NOT NULL PRIMARY KEY,
    email         text        NOT NULL,  -- normalised (trimmed, lower-case) by the domain's Email
    password_hash text        NOT NULL,  -- PHC string, stored byte for byte
    created_at    timestamptz NOT NULL,
    CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 254)
);

-- One account per address, racing sign-ups included: the loser gets SQLSTATE 23505 on this
-- index, which the adapter reports as DuplicateEmail. Also serves find_by_email.
CREATE UNIQUE INDEX users_email_key ON users (email);
