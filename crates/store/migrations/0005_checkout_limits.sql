-- Release 5: what checkout limits count. Each online order's contact (phone or e-mail) as a
-- keyed hash, never as given, so the store can cap one customer's orders without a journal
-- entry holding anything about them. Not journaled: rate-limit evidence, rebuilt empty.
CREATE TABLE order_contacts (
    order_id TEXT PRIMARY KEY,
    contact_hash TEXT NOT NULL,
    placed_at INTEGER NOT NULL
);
CREATE INDEX order_contacts_by_contact ON order_contacts(contact_hash, placed_at);
