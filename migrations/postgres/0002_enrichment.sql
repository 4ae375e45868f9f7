-- What the worker works out before storing: language and place.
-- NULL on rows stored before enrichment existed.
ALTER TABLE reports ADD COLUMN language TEXT;              -- ISO 639-1 or 'und'
ALTER TABLE reports ADD COLUMN language_confidence DOUBLE PRECISION;
ALTER TABLE reports ADD COLUMN place_method TEXT;          -- coordinates | text | sender_country | none
ALTER TABLE reports ADD COLUMN place_id BIGINT;                -- GeoNames id
ALTER TABLE reports ADD COLUMN place_name TEXT;
ALTER TABLE reports ADD COLUMN place_country TEXT;         -- ISO alpha-2
ALTER TABLE reports ADD COLUMN admin1_code TEXT;           -- 'KE.46'
ALTER TABLE reports ADD COLUMN admin1_name TEXT;
ALTER TABLE reports ADD COLUMN place_lat DOUBLE PRECISION;
ALTER TABLE reports ADD COLUMN place_lon DOUBLE PRECISION;
ALTER TABLE reports ADD COLUMN place_confidence DOUBLE PRECISION;
CREATE INDEX reports_admin1 ON reports (admin1_code);
