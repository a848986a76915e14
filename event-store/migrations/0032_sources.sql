-- Sources (issue 23): a project's files and their folders, as the `sources`
-- projection keeps them. The bytes are in the object store under
-- (project_id, sha256); a deleted source or folder is deleted here.
CREATE TABLE rm_source_folders (
    folder_id  uuid PRIMARY KEY,
    project_id uuid NOT NULL,
    name       text NOT NULL,
    -- NULL at the project's top level.
    parent_id  uuid,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX rm_source_folders_by_parent ON rm_source_folders (project_id, parent_id);

CREATE TABLE rm_sources (
    source_id  uuid PRIMARY KEY,
    project_id uuid NOT NULL,
    -- NULL at the project's top level.
    folder_id  uuid,
    name       text NOT NULL,
    size_bytes bigint NOT NULL,
    media_type text NOT NULL,
    sha256     text NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
-- A folder's listing, in id (creation) order, paged by id.
CREATE INDEX rm_sources_by_folder ON rm_sources (project_id, folder_id, source_id);
-- Whether any source still names a blob (the blob sweeper).
CREATE INDEX rm_sources_by_blob ON rm_sources (project_id, sha256);
-- The sources a person uploaded (export).
CREATE INDEX rm_sources_by_uploader ON rm_sources (created_by);
