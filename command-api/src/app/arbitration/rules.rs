//! The rule-based arbitrator, the default: for a `code` conflict on a
//! locked file the first writer wins (the agent that took the file's lock
//! first); anything else is for a person.

use async_trait::async_trait;
use zekka_domain::conflict::{ConflictKind, Strategy};

use super::{Arbitrator, Case, Failure, Reply, Verdict};

/// First writer wins on locked files; otherwise escalate.
pub struct RuleArbitrator;

#[async_trait]
impl Arbitrator for RuleArbitrator {
    fn name(&self) -> &str {
        "rules"
    }

    async fn decide(&self, case: &Case) -> Result<Reply, Failure> {
        let verdict = match (case.kind, &case.file_path, case.first_lock_holder) {
            (ConflictKind::Code, Some(file), Some(holder)) => Verdict::Resolve {
                strategy: Strategy::FirstWriter,
                resolution: format!("agent {holder} locked {file} first: its change stands"),
            },
            (ConflictKind::Code, Some(file), None) => {
                Verdict::Decline(format!("no agent of the conflict ever locked {file}"))
            }
            _ => Verdict::Decline("only code conflicts on locked files are settled by rule".to_owned()),
        };
        Ok(Reply {
            verdict,
            input_tokens: 0,
            output_tokens: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn case(kind: ConflictKind, holder: Option<Uuid>) -> Case {
        Case {
            kind,
            description: "both edit it".into(),
            agent_ids: vec![Uuid::from_u128(1), Uuid::from_u128(2)],
            file_path: Some("src/lib.rs".into()),
            first_lock_holder: holder,
        }
    }

    #[tokio::test]
    async fn the_first_lock_holder_wins_a_code_conflict_and_anything_else_is_declined() {
        let holder = Uuid::from_u128(2);
        let won = RuleArbitrator
            .decide(&case(ConflictKind::Code, Some(holder)))
            .await;
        assert!(
            matches!(&won, Ok(Reply { verdict: Verdict::Resolve { strategy: Strategy::FirstWriter, resolution }, .. })
                if resolution.contains(&holder.to_string())),
            "{won:?}"
        );
        for declined in [
            case(ConflictKind::Code, None),
            case(ConflictKind::Design, Some(holder)),
        ] {
            let reply = RuleArbitrator.decide(&declined).await;
            assert!(
                matches!(
                    reply,
                    Ok(Reply {
                        verdict: Verdict::Decline(_),
                        ..
                    })
                ),
                "{reply:?}"
            );
        }
    }
}
