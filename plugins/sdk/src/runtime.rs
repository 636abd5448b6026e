//! The glue between the exported functions and a [`Plugin`]: one outcome per operation, with
//! lookups turned into `needs` and absent records into `awaits`. Used by [`crate::register_plugin`];
//! also callable natively (benchmarks, native equivalence tests).

use crate::context::{AnswerIndex, Context};
use crate::error::Error;
use crate::plugin::Plugin;
use crate::types::{Answer, IndexError, Indexed, NetworkEvent, Outcome, RecordOp, RowOp};

/// Runs `index-records` for plugin `P`.
pub fn index_records<P: Plugin>(ops: &[RecordOp], answers: &[Answer]) -> Vec<Outcome> {
    let index = AnswerIndex::new(answers);
    ops.iter()
        .map(|op| outcome(&index, |ctx| P::index_record(ctx, op)))
        .collect()
}

/// Runs `index-events` for plugin `P`.
pub fn index_events<P: Plugin>(events: &[NetworkEvent], answers: &[Answer]) -> Vec<Outcome> {
    let index = AnswerIndex::new(answers);
    events
        .iter()
        .map(|event| outcome(&index, |ctx| P::index_event(ctx, event)))
        .collect()
}

fn outcome(
    index: &AnswerIndex<'_>,
    run: impl FnOnce(&mut Context<'_>) -> Result<Vec<RowOp>, Error>,
) -> Outcome {
    let mut ctx = Context::new(index);
    let result = run(&mut ctx);
    let (needs, awaits) = ctx.into_parts();
    match result {
        Ok(ops) => Outcome::Indexed(Indexed { ops, awaits }),
        Err(Error::Pending) if !needs.is_empty() => Outcome::Needs(needs),
        Err(Error::Pending) => Outcome::Failed(IndexError::Internal(
            "the projection returned Pending without asking anything".to_owned(),
        )),
        Err(error) => Outcome::Failed(
            error
                .into_index_error()
                .unwrap_or_else(|| IndexError::Internal("unreachable".to_owned())),
        ),
    }
}
