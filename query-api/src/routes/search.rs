//! `GET /search`: PostgreSQL full-text search over what the caller may read
//! — messages, conversations, projects and sources — ranked, with a
//! snippet, cursor-paged. The read models carry generated `tsvector`
//! columns (migration 0033), so deleted or erased text is gone from the
//! index in the projection's own transaction.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::MetaSchema;
use poem_openapi::{Object, OpenApi};
use tokio_postgres::types::Type;
use uuid::Uuid;
use zekka_domain::FieldError;
use zekka_platform::Problem;
use zekka_platform::auth::BearerAuth;
use zekka_platform::input::{Label, Rule, Text, TokenHeader};

use super::QueryTags;
use crate::paging;
use crate::state::QueryState;

/// What can be searched, as `?types=` names them.
const TYPES: [&str; 4] = ["messages", "conversations", "projects", "sources"];

/// The longest query.
const MAX_QUERY_CHARS: usize = 200;

/// The shape of a search cursor, for the schema: the rank's bits in hex,
/// a dot, the last hit's id.
enum SearchCursor {}

impl Rule for SearchCursor {
    fn describe(schema: &mut MetaSchema) {
        schema.pattern = Some(
            r"^([0-9a-f]{8}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$".to_owned(),
        );
    }
}

/// The shape of `?types=`, for the schema: kinds, comma-separated.
enum SearchTypes {}

impl Rule for SearchTypes {
    fn describe(schema: &mut MetaSchema) {
        let kind = "(messages|conversations|projects|sources)";
        schema.pattern = Some(format!("^({kind}(,{kind})*)?$"));
    }
}

/// The read models a search reads.
const MODELS: [&str; 3] = ["conversations", "projects", "sources"];

/// Searching.
pub struct SearchApi {
    state: Arc<QueryState>,
}

impl SearchApi {
    /// The routes over `state`.
    pub fn new(state: Arc<QueryState>) -> Self {
        Self { state }
    }
}

/// One thing found.
#[derive(Debug, Object)]
struct SearchHit {
    /// `messages`, `conversations`, `projects` or `sources`.
    #[oai(rename = "type")]
    kind: String,
    /// The message's, conversation's, project's or source's id.
    id: Uuid,
    project_id: Uuid,
    /// The conversation's title (for a message too), the project's or the
    /// source's name.
    title: String,
    /// The words around the match, each matching word between `«` and `»`.
    snippet: String,
    created_at: DateTime<Utc>,
    /// The conversation a message or conversation is in.
    conversation_id: Option<Uuid>,
}

/// One page of results, best first.
#[derive(Debug, Object)]
struct SearchPage {
    items: Vec<SearchHit>,
    next_cursor: Option<String>,
}

/// The types asked for, as one flag per entry of [`TYPES`].
fn wanted_types(raw: Option<&str>) -> Result<[bool; 4], Problem> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok([true; 4]);
    };
    let mut wanted = [false; 4];
    for name in raw.split(',').map(str::trim) {
        let Some(index) = TYPES.iter().position(|t| *t == name) else {
            return Err(Problem::invalid_field(FieldError::new(
                "types",
                format!("must be a comma-separated list of {}", TYPES.join(", ")),
            )));
        };
        wanted[index] = true;
    }
    Ok(wanted)
}

/// A cursor: the last hit's rank (its bits, exact) and id.
fn cursor_of(rank: f32, id: Uuid) -> String {
    format!("{:08x}.{id}", rank.to_bits())
}

fn parse_cursor(raw: Option<&str>) -> Result<Option<(f32, Uuid)>, Problem> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let refused = || Problem::bad_request("cursor is not one this server issued");
    let (bits, id) = raw.split_once('.').ok_or_else(refused)?;
    let bits = u32::from_str_radix(bits, 16).map_err(|_| refused())?;
    let id = Uuid::parse_str(id).map_err(|_| refused())?;
    // Any bits read as a rank (PostgreSQL orders NaN above every number);
    // the server only issues finite ones.
    Ok(Some((f32::from_bits(bits), id)))
}

/// Every searchable kind, each only in the caller's projects and at most
/// `$11` (`SEARCH_CANDIDATES`) newest matches (ids are time-ordered
/// UUIDv7): ranking visits every candidate, so a word in most of a large
/// corpus would cost time in proportion to the corpus; capped, a search
/// ranks at most that many per kind whatever its words or the size of
/// other tenants' data (`docs/search.md`). Then the page after the cursor;
/// snippets only for the page (a text source's from its first 8 KiB of
/// text unless its name — the vector's weight-A words — matches:
/// `ts_headline` parses all it is given, about 0.2 ms a kilobyte).
const SEARCH: &str = "
WITH hits AS (
    (SELECT 'messages'::text AS kind, m.message_id AS id, c.project_id, c.title, m.content AS body,
            m.created_at, ts_rank(m.search, websearch_to_tsquery('simple', $1)) AS rank,
            c.conversation_id
       FROM rm_messages m
       JOIN rm_conversations c ON c.conversation_id = m.conversation_id
       JOIN visible_projects($2) v ON v.project_id = c.project_id
      WHERE $3 AND m.search @@ websearch_to_tsquery('simple', $1) AND ($7::uuid IS NULL OR c.project_id = $7)
      ORDER BY m.message_id DESC LIMIT $11)
    UNION ALL
    (SELECT 'conversations', c.conversation_id, c.project_id, c.title, c.title,
            c.created_at, ts_rank(c.search, websearch_to_tsquery('simple', $1)), c.conversation_id
       FROM rm_conversations c
       JOIN visible_projects($2) v ON v.project_id = c.project_id
      WHERE $4 AND c.search @@ websearch_to_tsquery('simple', $1) AND ($7::uuid IS NULL OR c.project_id = $7)
      ORDER BY c.conversation_id DESC LIMIT $11)
    UNION ALL
    (SELECT 'projects', p.project_id, p.project_id, p.name, p.name || ' — ' || p.description,
            p.created_at, ts_rank(p.search, websearch_to_tsquery('simple', $1)), NULL::uuid
       FROM rm_projects p
       JOIN visible_projects($2) v ON v.project_id = p.project_id
      WHERE $5 AND p.search @@ websearch_to_tsquery('simple', $1) AND ($7::uuid IS NULL OR p.project_id = $7)
      ORDER BY p.project_id DESC LIMIT $11)
    UNION ALL
    (SELECT 'sources', s.source_id, s.project_id, s.name, s.name,
            s.created_at, ts_rank(s.search, websearch_to_tsquery('simple', $1)), NULL::uuid
       FROM rm_sources s
       JOIN visible_projects($2) v ON v.project_id = s.project_id
      WHERE $6 AND s.search @@ websearch_to_tsquery('simple', $1) AND ($7::uuid IS NULL OR s.project_id = $7)
      ORDER BY s.source_id DESC LIMIT $11)
), page AS (
    SELECT * FROM hits
     WHERE $8::real IS NULL OR (rank, id) < ($8::real, $9::uuid)
     ORDER BY rank DESC, id DESC
     LIMIT $10
)
SELECT page.kind, page.id, page.project_id, page.title,
       ts_headline('simple',
                   CASE WHEN t.content_text IS NULL
                          OR ts_filter(t.search, '{a}') @@ websearch_to_tsquery('simple', $1)
                        THEN coalesce(page.body, '') ELSE left(t.content_text, 8192) END,
                   websearch_to_tsquery('simple', $1),
                   'MaxFragments=1, MaxWords=24, MinWords=8, StartSel=«, StopSel=»'),
       page.created_at, page.rank, page.conversation_id
  FROM page
  LEFT JOIN rm_sources t ON page.kind = 'sources' AND t.source_id = page.id
 ORDER BY page.rank DESC, page.id DESC";

#[OpenApi(prefix_path = "/api/v1", tag = "QueryTags::Search")]
impl SearchApi {
    /// Search messages, conversations, projects and sources the caller may
    /// read. `q` takes web-search syntax: words (all must match), `"a
    /// phrase"`, `-word`, `OR`. Best matches first.
    #[oai(path = "/search", method = "get", operation_id = "search")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        auth: BearerAuth,
        /// What to find: 1 to 200 characters.
        q: Query<Text<Label<MAX_QUERY_CHARS>>>,
        /// Only in this project.
        project_id: Query<Option<Uuid>>,
        /// A comma-separated subset of `messages,conversations,projects,sources` (default: all).
        types: Query<Option<Text<SearchTypes>>>,
        limit: Query<Option<paging::PageLimit>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<Text<SearchCursor>>>,
        #[oai(name = "X-Consistency-Token")] consistency_token: Header<Option<TokenHeader>>,
    ) -> Result<Json<SearchPage>, Problem> {
        if q.0.trim().is_empty() {
            return Err(Problem::invalid_field(FieldError::new("q", "must not be empty")));
        }
        if q.0.chars().count() > MAX_QUERY_CHARS {
            return Err(Problem::invalid_field(FieldError::new(
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            )));
        }
        let limit = paging::limit(limit.0)?;
        let wanted = wanted_types(types.0.as_deref())?;
        let after = parse_cursor(cursor.0.as_deref())?;
        self.state
            .catch_up(auth.0.user_id, consistency_token.0.as_deref(), &MODELS)
            .await?;
        let client = self.state.pool.get().await.map_err(Problem::from_pool)?;
        let (after_rank, after_id) = (after.map(|(rank, _)| rank), after.map(|(_, id)| id));
        let text: &str = &q.0;
        // Planned for these words each time (an unnamed statement): a plan
        // cached for any words would not know how common they are.
        let rows = client
            .query_typed(
                SEARCH,
                &[
                    (&text, Type::TEXT),
                    (&auth.0.user_id, Type::UUID),
                    (&wanted[0], Type::BOOL),
                    (&wanted[1], Type::BOOL),
                    (&wanted[2], Type::BOOL),
                    (&wanted[3], Type::BOOL),
                    (&project_id.0, Type::UUID),
                    (&after_rank, Type::FLOAT4),
                    (&after_id, Type::UUID),
                    (&(limit + 1), Type::INT8),
                    (&self.state.search_candidates, Type::INT8),
                ],
            )
            .await
            .map_err(Problem::from_db)?;
        let hits = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<_, f32>(6)?,
                    SearchHit {
                        kind: row.try_get(0)?,
                        id: row.try_get(1)?,
                        project_id: row.try_get(2)?,
                        title: row.try_get(3)?,
                        snippet: row.try_get(4)?,
                        created_at: row.try_get(5)?,
                        conversation_id: row.try_get(7)?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(Problem::from_db)?;
        let (hits, next_cursor) = paging::page(hits, limit, |(rank, hit)| cursor_of(*rank, hit.id));
        Ok(Json(SearchPage {
            items: hits.into_iter().map(|(_, hit)| hit).collect(),
            next_cursor,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_keeps_its_rank_exactly_and_types_are_checked() {
        let id = Uuid::from_u128(7);
        let rank = 0.060_792_71_f32;
        assert_eq!(
            parse_cursor(Some(&cursor_of(rank, id))).ok().flatten(),
            Some((rank, id))
        );
        assert!(parse_cursor(Some("nonsense")).is_err());
        assert_eq!(wanted_types(None).ok(), Some([true; 4]));
        assert_eq!(
            wanted_types(Some("sources, messages")).ok(),
            Some([true, false, false, true])
        );
        assert!(wanted_types(Some("files")).is_err());
    }
}
