//! Corpus and hand-written samples of `profiles`, with the asserted outcome of each.

use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![]
}
