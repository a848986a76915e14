-- Search in the text of text sources (issue 23): the sources projection
-- keeps the first 128 KiB of a text source (text/*, JSON, or untyped bytes
-- named like a text file) in `content_text`, read from the blob store when
-- the source is added; the search vector is generated from the name
-- (weight A) and that text (weight B). A generated column's expression
-- cannot be changed in place before PostgreSQL 17: it is made anew.
ALTER TABLE rm_sources ADD COLUMN content_text text;

DROP INDEX rm_sources_search;
ALTER TABLE rm_sources DROP COLUMN search;
ALTER TABLE rm_sources
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', name || ' ' || regexp_replace(name, '[^[:alnum:]]+', ' ', 'g')), 'A')
        || setweight(to_tsvector('simple', coalesce(content_text, '')), 'B')
    ) STORED;
CREATE INDEX rm_sources_search ON rm_sources USING gin (search);
