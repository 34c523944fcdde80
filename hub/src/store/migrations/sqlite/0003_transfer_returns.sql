-- A transfer the sender cancelled comes back to it as a transfer-in at its own
-- location: `returned_qty` counts what came back. In transit is
-- qty - received_qty - returned_qty; below zero means the sender cancelled
-- what the receiver also received (offline, both at once): shown as disputed.
ALTER TABLE transfer ADD COLUMN returned_qty INTEGER NOT NULL DEFAULT 0;
