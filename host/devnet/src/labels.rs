//! The labeler's labels: signed labels on posts and accounts of the network, with negations.
//!
//! Label `i` (sequence number `i + 1` of `subscribeLabels`) is a pure function of the seed and
//! `i`: its subject (a post, with its CID, or an account), its value, its time and its
//! signature by the labeler's label key. About one label in seven negates an earlier one.

use sluice_atproto::label::Label;

use crate::accounts::LABELER;
use crate::content::records::LABEL_VALUES;
use crate::content::{Generator, datetime};
use crate::draw::{Draw, Topic};
use crate::model::{ERA_END_MICROS, ERA_START_MICROS};

/// Number of labels the history has for a network of `repos` repos.
pub fn history_label_count(repos: u32) -> u64 {
    (u64::from(repos) / 2).max(20)
}

/// Label `index`, created at `micros` (`None`: its time in the history).
pub fn label(generator: &Generator<'_>, index: u64, micros: Option<u64>) -> Option<Label> {
    let model = generator.model();
    let labeler = model.account(LABELER)?;
    let key = labeler.label_keypair.as_ref()?;
    let count = history_label_count(model.repo_count());
    let micros = micros.unwrap_or_else(|| {
        let start = ERA_START_MICROS + (ERA_END_MICROS - ERA_START_MICROS) / 3;
        start + (ERA_END_MICROS - start) / (count + 1) * (index + 1)
    });
    let mut draw = Draw::new(model.seed(), Topic::Label, index, 0, 0);
    let mut negated = None;
    if wants_negation(model.seed(), index) {
        // Negate an earlier label that applied something.
        for _ in 0..8 {
            let earlier = draw.below(index);
            if !wants_negation(model.seed(), earlier) {
                let mut original = label_subject(generator, earlier)?;
                original.neg = Some(true);
                negated = Some(original);
                break;
            }
        }
    }
    let mut label = match negated {
        Some(negation) => negation,
        None => label_subject(generator, index)?,
    };
    label.cts = datetime(micros);
    label.sign(key).ok()?;
    Some(label)
}

/// Whether label `index` tries to negate an earlier one.
fn wants_negation(seed: u64, index: u64) -> bool {
    index >= 4 && Draw::new(seed, Topic::Label, index, 2, 0).chance(150)
}

/// The unsigned, undated label `index` would apply (ignoring negation).
fn label_subject(generator: &Generator<'_>, index: u64) -> Option<Label> {
    let model = generator.model();
    let labeler = model.account(LABELER)?;
    let mut draw = Draw::new(model.seed(), Topic::Label, index, 1, 0);
    let repo = model.popular_repo(&mut draw);
    let (uri, cid) = if draw.chance(300) {
        (model.account(repo)?.did.clone(), None)
    } else {
        let id = generator.pick_post(&mut draw, repo, ERA_END_MICROS, false);
        let record = generator.record(id, 0).ok()?;
        (generator.uri(id), Some(record.cid.to_string()))
    };
    Some(Label {
        ver: Some(1),
        src: labeler.did.clone(),
        uri,
        cid,
        val: (*draw.pick(&LABEL_VALUES)).to_owned(),
        neg: None,
        cts: String::new(),
        exp: None,
        sig: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Model, NetworkConfig};

    #[test]
    fn labels_are_signed_deterministic_and_some_negate() {
        let model = Model::build(NetworkConfig::new(61, 40).with_records(2_000));
        let generator = Generator::new(&model);
        let labeler = model.account(LABELER).unwrap();
        let key = labeler.label_keypair.as_ref().unwrap().public_key();
        let count = history_label_count(40);
        let mut negations = 0;
        let mut applied = std::collections::HashSet::new();
        for index in 0..count * 5 {
            let label = label(&generator, index, None).unwrap();
            assert_eq!(label, super::label(&generator, index, None).unwrap());
            label.verify(&key).unwrap();
            assert!(label.verify(&labeler.keypair.public_key()).is_err());
            assert_eq!(label.src, labeler.did);
            let subject = (label.uri.clone(), label.val.clone());
            if label.is_negation() {
                negations += 1;
                assert!(applied.contains(&subject), "negates nothing: {label:?}");
            } else {
                applied.insert(subject);
            }
        }
        assert!(negations > 0);
    }
}
