//! Which tensors a subset fetch takes, and what it does with each file of the checkpoint:
//! everything here is decided from the signed manifest alone.
//!
//! - A safetensors file with some but not all tensors matching becomes a subset file
//!   ([`SubsetLayout`]).
//! - A safetensors file whose every tensor matches is fetched whole, as it is (its id is
//!   the manifest's).
//! - A safetensors file with no matching tensor is skipped, and so is every other file,
//!   unless the selection also takes the other files (`--other-files`), which are then
//!   fetched whole.

use globset::{Glob, GlobSet, GlobSetBuilder};
use ostrom_protocol::chunking::is_safetensors;
use ostrom_protocol::FileEntry;

use super::SubsetError;

/// The `--tensors` patterns (globs over tensor names; a name is taken when any pattern
/// matches it) and whether files other than safetensors are fetched too.
#[derive(Debug, Clone)]
pub struct TensorSelection {
    patterns: Vec<String>,
    set: GlobSet,
    other_files: bool,
}

impl TensorSelection {
    /// A selection of the tensors matching any of `patterns` (`*`, `?`, `[...]`, `{a,b}`
    /// as in shell globs; `*` also matches `.`); with `other_files`, files that are not
    /// safetensors are fetched whole.
    pub fn new(patterns: &[String], other_files: bool) -> Result<Self, SubsetError> {
        if patterns.is_empty() {
            return Err(SubsetError::NoPattern);
        }
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = Glob::new(pattern).map_err(|e| SubsetError::BadPattern {
                pattern: pattern.clone(),
                reason: e.kind().to_string(),
            })?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| SubsetError::BadPattern {
            pattern: patterns.join(" "),
            reason: e.to_string(),
        })?;
        Ok(Self {
            patterns: patterns.to_vec(),
            set,
            other_files,
        })
    }

    /// The patterns, as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether files that are not safetensors are fetched (whole).
    pub fn other_files(&self) -> bool {
        self.other_files
    }

    /// Whether the tensor called `name` is taken.
    pub fn matches(&self, name: &str) -> bool {
        self.set.is_match(name)
    }
}

/// Why a file is left out of a subset fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A safetensors file none of whose tensors matches.
    NoMatchingTensor,
    /// Not a safetensors file, and other files were not asked for.
    NotSafetensors,
}

impl SkipReason {
    /// A stable name: `no_matching_tensor` or `not_safetensors`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoMatchingTensor => "no_matching_tensor",
            Self::NotSafetensors => "not_safetensors",
        }
    }
}

/// What a subset fetch does with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilePlan {
    /// Fetched whole, as the manifest lists it.
    Whole,
    /// Written as a subset file.
    Subset(SubsetLayout),
    /// Left out.
    Skip(SkipReason),
}

/// Where one chunk of the manifest's file goes in the file being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The chunk's index in the manifest's chunk list of the file.
    pub chunk: usize,
    /// Its byte offset in the file being written.
    pub offset: u64,
}

/// A subset file: the original header region, then the selected tensors packed in their
/// original order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubsetLayout {
    /// How many of the file's first chunks hold its header region.
    pub header_chunks: usize,
    /// The header region's length (8 + the JSON's length), the same in both files.
    pub header_len: u64,
    /// The selected tensors: indices into the manifest's tensor list, in its order.
    pub tensors: Vec<usize>,
    /// Where each selected tensor's bytes begin in the subset's data region.
    pub begins: Vec<u64>,
    /// The subset file's size.
    pub size: u64,
}

/// Byte offset of each chunk of `entry` in its file, and the file's size last.
fn chunk_starts(entry: &FileEntry) -> Vec<u64> {
    let mut starts = Vec::with_capacity(entry.chunks.len() + 1);
    let mut at = 0u64;
    starts.push(at);
    for chunk in &entry.chunks {
        at += u64::from(chunk.len);
        starts.push(at);
    }
    starts
}

/// The chunk range `[first, first + count)` of a tensor, cut to the file's chunks (a
/// verified manifest never needs the cut, F4).
fn chunk_range(entry: &FileEntry, tensor: usize) -> std::ops::Range<usize> {
    let Some(t) = entry.tensors.get(tensor) else {
        return 0..0;
    };
    let first = (t.first_chunk as usize).min(entry.chunks.len());
    let end = (first + t.chunk_count as usize).min(entry.chunks.len());
    first..end
}

impl SubsetLayout {
    fn of(entry: &FileEntry, tensors: Vec<usize>) -> Self {
        let starts = chunk_starts(entry);
        let header_chunks = entry
            .tensors
            .iter()
            .filter(|t| t.chunk_count > 0)
            .map(|t| t.first_chunk as usize)
            .min()
            .unwrap_or(entry.chunks.len())
            .min(entry.chunks.len());
        let header_len = starts[header_chunks];
        let mut begins = Vec::with_capacity(tensors.len());
        let mut data = 0u64;
        for &tensor in &tensors {
            begins.push(data);
            let range = chunk_range(entry, tensor);
            data += starts[range.end] - starts[range.start];
        }
        Self {
            header_chunks,
            header_len,
            tensors,
            begins,
            size: header_len + data,
        }
    }

    /// The original byte range `[begin, end)` of selected tensor `i` (an index into
    /// [`SubsetLayout::tensors`]) within the original file, from the manifest's chunks.
    pub fn original_range(&self, entry: &FileEntry, i: usize) -> (u64, u64) {
        let starts = chunk_starts(entry);
        let range = chunk_range(entry, self.tensors[i]);
        (starts[range.start], starts[range.end])
    }

    /// Where the header chunks go: where they lie in the original file.
    pub fn header_placements(&self, entry: &FileEntry) -> Vec<Placement> {
        let starts = chunk_starts(entry);
        (0..self.header_chunks)
            .map(|chunk| Placement {
                chunk,
                offset: starts[chunk],
            })
            .collect()
    }

    /// Where the selected tensors' chunks go, in the subset file's order.
    pub fn tensor_placements(&self, entry: &FileEntry) -> Vec<Placement> {
        let starts = chunk_starts(entry);
        let mut placements = Vec::new();
        for (&tensor, &begin) in self.tensors.iter().zip(&self.begins) {
            let range = chunk_range(entry, tensor);
            let base = self.header_len + begin;
            for chunk in range.clone() {
                placements.push(Placement {
                    chunk,
                    offset: base + starts[chunk] - starts[range.start],
                });
            }
        }
        placements
    }

    /// Every chunk the subset fetch writes: the header chunks, then the tensors'.
    pub fn placements(&self, entry: &FileEntry) -> Vec<Placement> {
        let mut all = self.header_placements(entry);
        all.extend(self.tensor_placements(entry));
        all
    }
}

/// What a subset fetch with `selection` does with `entry`.
pub fn plan_file(entry: &FileEntry, selection: &TensorSelection) -> FilePlan {
    if !is_safetensors(&entry.path) {
        return if selection.other_files() {
            FilePlan::Whole
        } else {
            FilePlan::Skip(SkipReason::NotSafetensors)
        };
    }
    let taken: Vec<usize> = entry
        .tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| selection.matches(&t.name))
        .map(|(i, _)| i)
        .collect();
    if taken.is_empty() {
        FilePlan::Skip(SkipReason::NoMatchingTensor)
    } else if taken.len() == entry.tensors.len() {
        FilePlan::Whole
    } else {
        FilePlan::Subset(SubsetLayout::of(entry, taken))
    }
}

#[cfg(test)]
mod tests {
    use ostrom_protocol::manifest::{ChunkRef, TensorEntry};
    use ostrom_protocol::Id;

    use super::*;

    fn tensor(name: &str, first_chunk: u32, chunk_count: u32) -> TensorEntry {
        TensorEntry {
            name: name.to_owned(),
            dtype: "U8".to_owned(),
            shape: vec![],
            first_chunk,
            chunk_count,
        }
    }

    /// A file whose header is two chunks (1 MiB + 100), then tensor `a` (3 chunks, the
    /// last short), empty `e`, tensor `b` (1 chunk).
    fn entry() -> FileEntry {
        let mib = 1 << 20;
        let lens = [mib, 100, mib, mib, 7, 50];
        FileEntry {
            path: "model.safetensors".to_owned(),
            size: lens.iter().map(|&l| u64::from(l)).sum(),
            id: Id::of(b"file"),
            chunks: lens
                .iter()
                .enumerate()
                .map(|(i, &len)| ChunkRef {
                    id: Id::of(&[i as u8]),
                    len,
                })
                .collect(),
            tensors: vec![tensor("a", 2, 3), tensor("e", 5, 0), tensor("b", 5, 1)],
        }
    }

    fn selection(patterns: &[&str]) -> TensorSelection {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        TensorSelection::new(&patterns, false).expect("patterns")
    }

    #[test]
    fn a_subset_packs_the_selected_tensors_after_the_original_header() {
        let entry = entry();
        let FilePlan::Subset(layout) = plan_file(&entry, &selection(&["b"])) else {
            panic!("a subset");
        };
        let mib = 1u64 << 20;
        assert_eq!(layout.header_chunks, 2);
        assert_eq!(layout.header_len, mib + 100);
        assert_eq!(layout.size, mib + 100 + 50);
        assert_eq!(
            layout.placements(&entry),
            vec![
                Placement {
                    chunk: 0,
                    offset: 0
                },
                Placement {
                    chunk: 1,
                    offset: mib
                },
                Placement {
                    chunk: 5,
                    offset: mib + 100
                },
            ]
        );
        assert_eq!(
            layout.original_range(&entry, 0),
            (3 * mib + 107, 3 * mib + 157)
        );

        let FilePlan::Subset(layout) = plan_file(&entry, &selection(&["[ae]"])) else {
            panic!("a subset");
        };
        assert_eq!(layout.tensors, vec![0, 1]);
        assert_eq!(layout.begins, vec![0, 2 * mib + 7]);
        let offsets: Vec<u64> = layout
            .tensor_placements(&entry)
            .iter()
            .map(|p| p.offset)
            .collect();
        let base = mib + 100;
        assert_eq!(offsets, vec![base, base + mib, base + 2 * mib]);
    }

    #[test]
    fn whole_files_and_skipped_files() {
        let entry = entry();
        assert_eq!(plan_file(&entry, &selection(&["*"])), FilePlan::Whole);
        assert_eq!(
            plan_file(&entry, &selection(&["a", "b", "e"])),
            FilePlan::Whole
        );
        assert_eq!(
            plan_file(&entry, &selection(&["model.*"])),
            FilePlan::Skip(SkipReason::NoMatchingTensor)
        );
        let mut config = entry.clone();
        config.path = "config.json".to_owned();
        config.tensors.clear();
        assert_eq!(
            plan_file(&config, &selection(&["*"])),
            FilePlan::Skip(SkipReason::NotSafetensors)
        );
        let others = TensorSelection::new(&["x".to_owned()], true).expect("pattern");
        assert_eq!(plan_file(&config, &others), FilePlan::Whole);
    }

    #[test]
    fn patterns_are_globs_over_whole_names() {
        let s = selection(&["model.layers.1.*", "lm_head.weight"]);
        assert!(s.matches("model.layers.1.mlp.up_proj.weight"));
        assert!(!s.matches("model.layers.11.mlp.up_proj.weight"));
        assert!(s.matches("lm_head.weight"));
        assert!(!s.matches("lm_head.weight.bias"));
        let s = selection(&["model.layers.{0,2}.*"]);
        assert!(s.matches("model.layers.2.self_attn.q_proj.weight"));
        assert!(!s.matches("model.layers.1.self_attn.q_proj.weight"));
        assert!(matches!(
            TensorSelection::new(&["a[".to_owned()], false),
            Err(SubsetError::BadPattern { .. })
        ));
        assert_eq!(
            TensorSelection::new(&[], false).err(),
            Some(SubsetError::NoPattern)
        );
    }
}
