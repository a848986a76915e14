//! The bearer security schemes shared by both APIs. [`BearerAuth`] admits
//! people: it verifies the access token with the public key in the request
//! data, without touching a database. [`AgentAuth`], on the routes agents
//! call, admits people and project API keys ([`crate::api_keys`]); every
//! other route answers a key with 403.

use std::sync::Arc;

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use uuid::Uuid;

use crate::api_keys::{self, ApiKeys, KeyGrant, KeyRefusal};
use crate::problem::Problem;
use crate::revocation::Revocations;
use crate::tokens::{AccessClaims, TokenVerifier};

/// A request authenticated with a valid access token.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "PASETO v4.public",
    checker = "check_access_token"
)]
pub struct BearerAuth(pub AccessClaims);

async fn check_access_token(req: &Request, bearer: Bearer) -> poem::Result<AccessClaims> {
    if bearer.token.starts_with(api_keys::PREFIX) {
        return Err(Problem::forbidden("API keys may not call this route; sign in as a person").into());
    }
    verify_person(req, &bearer).await
}

async fn verify_person(req: &Request, bearer: &Bearer) -> poem::Result<AccessClaims> {
    let (Some(verifier), Some(revocations)) = (req.data::<Arc<TokenVerifier>>(), req.data::<Revocations>())
    else {
        return Err(Problem::internal(&std::io::Error::other("no token verifier installed")).into());
    };
    let claims = verifier.verify(&bearer.token).map_err(|error| {
        tracing::debug!(%error, "access token refused");
        Problem::unauthorized("the access token is invalid or expired")
    })?;
    match revocations.is_revoked(&claims).await {
        Ok(false) => Ok(claims),
        Ok(true) => Err(Problem::unauthorized("the access token has been revoked").into()),
        Err(error) => {
            tracing::warn!(%error, "cannot check token revocation; refusing");
            Err(Problem::unavailable("cannot check the access token right now; retry shortly", 2).into())
        }
    }
}

/// Who calls a route that agents may call too.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A signed-in person.
    Person(AccessClaims),
    /// A project API key.
    Key(KeyGrant),
}

impl From<&BearerAuth> for Principal {
    fn from(auth: &BearerAuth) -> Self {
        Principal::Person(auth.0.clone())
    }
}

impl Principal {
    /// The user whose role the aggregates check: the person, or whoever
    /// issued the key.
    pub fn acting_user(&self) -> Uuid {
        match self {
            Principal::Person(claims) => claims.user_id,
            Principal::Key(grant) => grant.created_by,
        }
    }

    /// The key, when a key calls.
    pub fn api_key(&self) -> Option<Uuid> {
        match self {
            Principal::Person(_) => None,
            Principal::Key(grant) => Some(grant.key_id),
        }
    }
}

/// A request authenticated with an access token or a project API key.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "PASETO v4.public, or a project API key (zk_…)",
    checker = "check_agent_credentials"
)]
pub struct AgentAuth(pub Principal);

async fn check_agent_credentials(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    principal_of(req, &bearer).await
}

/// Who sends `req`, by its `Authorization` header, checked as the routes
/// check it (signature, expiry, revocation; an API key's secret and
/// revocation): `None` without credentials. For middleware that must know
/// the caller before the route runs (idempotency keys).
///
/// # Errors
/// 401 for credentials that are not valid (any more); 503 when they
/// cannot be checked.
pub async fn authenticate(req: &Request) -> poem::Result<Option<Principal>> {
    let Some(header) = req.headers().get("authorization") else {
        return Ok(None);
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Problem::unauthorized("the Authorization header is not a bearer token"))?;
    principal_of(
        req,
        &Bearer {
            token: token.to_owned(),
        },
    )
    .await
    .map(Some)
}

async fn principal_of(req: &Request, bearer: &Bearer) -> poem::Result<Principal> {
    if !bearer.token.starts_with(api_keys::PREFIX) {
        return verify_person(req, bearer).await.map(Principal::Person);
    }
    let Some(keys) = req.data::<Arc<ApiKeys>>() else {
        return Err(Problem::internal(&std::io::Error::other("no API key verifier installed")).into());
    };
    match keys.verify(&bearer.token).await {
        Ok(grant) => Ok(Principal::Key(grant)),
        Err(KeyRefusal::Invalid) => Err(Problem::unauthorized("the API key is invalid").into()),
        Err(KeyRefusal::Revoked) => Err(Problem::unauthorized("the API key has been revoked").into()),
        Err(KeyRefusal::Unavailable(error)) => {
            tracing::warn!(%error, "cannot check an API key; refusing");
            Err(Problem::unavailable("cannot check the API key right now; retry shortly", 2).into())
        }
    }
}
