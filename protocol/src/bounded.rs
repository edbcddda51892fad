//! Decoding counted sequences and maps whose count is checked before anything is read or
//! reserved for them.
//!
//! The manifest's lists (files, metadata entries, tensors per file, dimensions per shape)
//! are prefixed with their count on the wire. Each field decoded through this module refuses
//! a count above its limit as soon as the count is read, and reserves at most a small,
//! fixed number of slots up front whatever the count claims. Postcard turns every such
//! refusal into one generic error, so the reason is also kept for the thread that decodes
//! and [`take_refusal`] hands it back.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::limits::{MAX_FILES, MAX_TENSORS};
use crate::manifest::FileEntry;

/// Slots reserved up front for a list, whatever count it claims.
const RESERVE: usize = 256;

thread_local! {
    static REFUSAL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Forgets any refusal a previous decode on this thread left behind.
pub(crate) fn clear_refusal() {
    REFUSAL.with(|r| r.borrow_mut().take());
}

/// Why the last decode on this thread was refused by a limit, if it was.
pub(crate) fn take_refusal() -> Option<String> {
    REFUSAL.with(|r| r.borrow_mut().take())
}

fn refuse<E: de::Error>(reason: String) -> E {
    let error = E::custom(&reason);
    REFUSAL.with(|r| *r.borrow_mut() = Some(reason));
    error
}

fn check_count<E: de::Error>(what: &str, count: Option<usize>, max: usize) -> Result<(), E> {
    match count {
        Some(count) if count > max => {
            Err(refuse(format!("{count} {what}, over the limit of {max}")))
        }
        _ => Ok(()),
    }
}

struct BoundedVec<T, const MAX: usize>(&'static str, PhantomData<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for BoundedVec<T, MAX> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {MAX} {}", self.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        check_count(self.0, seq.size_hint(), MAX)?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(RESERVE));
        while let Some(item) = seq.next_element()? {
            if items.len() == MAX {
                return Err(refuse(format!("more than {MAX} {}", self.0)));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// A tensor's shape: at most [`MAX_TENSOR_RANK`](crate::limits::MAX_TENSOR_RANK) dimensions.
pub(crate) fn shape<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    d.deserialize_seq(BoundedVec::<u64, { crate::limits::MAX_TENSOR_RANK }>(
        "dimensions in a tensor shape",
        PhantomData,
    ))
}

/// A file's tensors: at most [`MAX_TENSORS_PER_FILE`](crate::limits::MAX_TENSORS_PER_FILE).
pub(crate) fn tensors<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_seq(BoundedVec::<T, { crate::limits::MAX_TENSORS_PER_FILE }>(
        "tensors in one file",
        PhantomData,
    ))
}

struct Files;

impl<'de> Visitor<'de> for Files {
    type Value = Vec<FileEntry>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at most {MAX_FILES} files holding at most {MAX_TENSORS} tensors"
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<FileEntry>, A::Error> {
        check_count("files", seq.size_hint(), MAX_FILES)?;
        let mut files = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(RESERVE));
        let mut tensors = 0usize;
        while let Some(file) = seq.next_element::<FileEntry>()? {
            if files.len() == MAX_FILES {
                return Err(refuse(format!("more than {MAX_FILES} files")));
            }
            tensors += file.tensors.len();
            if tensors > MAX_TENSORS {
                return Err(refuse(format!(
                    "more than {MAX_TENSORS} tensors in one manifest"
                )));
            }
            files.push(file);
        }
        Ok(files)
    }
}

/// A manifest's files: at most [`MAX_FILES`], holding at most [`MAX_TENSORS`] tensors in
/// all; each file is checked as soon as it is decoded.
pub(crate) fn files<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<FileEntry>, D::Error> {
    d.deserialize_seq(Files)
}

struct BoundedMap<const MAX: usize>;

impl<'de, const MAX: usize> Visitor<'de> for BoundedMap<MAX> {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {MAX} metadata entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        check_count("metadata entries", map.size_hint(), MAX)?;
        let mut entries = BTreeMap::new();
        let mut read = 0usize;
        while let Some((key, value)) = map.next_entry::<String, String>()? {
            read += 1;
            if read > MAX {
                return Err(refuse(format!("more than {MAX} metadata entries")));
            }
            entries.insert(key, value);
        }
        Ok(entries)
    }
}

/// A manifest's metadata: at most
/// [`MAX_METADATA_ENTRIES`](crate::limits::MAX_METADATA_ENTRIES) entries.
pub(crate) fn metadata<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    d.deserialize_map(BoundedMap::<{ crate::limits::MAX_METADATA_ENTRIES }>)
}
