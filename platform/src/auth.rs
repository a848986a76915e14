//! The bearer security scheme shared by both APIs: verifies the access token
//! with the public key in the request data, without touching a database.

use std::sync::Arc;

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

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
