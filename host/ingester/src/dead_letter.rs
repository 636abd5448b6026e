//! The ingester's dead letters: frames it rejected, with the reason, in `<stream>:dead`.
//!
//! | field | value |
//! |---|---|
//! | `reason` | a short word (`bad_signature`, `prev_data_gap`, `malformed_frame`, …) |
//! | `error` | the error in words |
//! | `host` | the host it came from |
//! | `seq` | its `seq` (absent when the frame did not decode) |
//! | `did` | its account (when known) |
//! | `frame` | the frame's bytes as received (decode with `sluice inspect frame`); frames over [`MAX_FRAME_KEPT`] bytes are left out and `frame_bytes` gives their size |
//!
//! The stream is trimmed to about `dead_letter_max_len` entries (`MAXLEN ~`), so a flood of bad
//! frames cannot fill Redis.

use crate::verify::Rejection;
use crate::writer::Entry;

/// Largest frame copied into a dead letter.
pub const MAX_FRAME_KEPT: usize = 256 * 1024;

/// The dead-letter entry of `rejection`, for stream `stream`'s dead letters.
pub fn rejection_entry(
    stream: &str,
    host: &str,
    seq: Option<i64>,
    rejection: &Rejection,
    max_len: u64,
) -> Entry {
    let mut fields: Vec<(&'static str, Vec<u8>)> = vec![
        ("reason", rejection.reason.as_bytes().to_vec()),
        ("error", rejection.error.as_bytes().to_vec()),
        ("host", host.as_bytes().to_vec()),
    ];
    if let Some(seq) = seq {
        fields.push(("seq", seq.to_string().into_bytes()));
    }
    if let Some(did) = &rejection.did {
        fields.push(("did", did.as_bytes().to_vec()));
    }
    if rejection.frame.len() <= MAX_FRAME_KEPT {
        fields.push(("frame", rejection.frame.to_vec()));
    } else {
        fields.push((
            "frame_bytes",
            rejection.frame.len().to_string().into_bytes(),
        ));
    }
    Entry {
        stream: sluice_queue::dead_letter_stream(stream),
        fields,
        max_len: Some(max_len),
    }
}
