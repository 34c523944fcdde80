-- A held sale keeps its revenue, so a daily total carries an average price
-- when the dealer shares prices; the day is the site's, in its time zone.
ALTER TABLE share_held ADD COLUMN price_micro INTEGER;  -- qty × unit price, in millionths; NULL: no price
