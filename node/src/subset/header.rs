//! The header of a subset file, made from the original file's header region (its bytes
//! read back from chunks that verified against the signed manifest).
//!
//! Before anything is written the original header is checked against the manifest for
//! every selected tensor: the header names it, with the manifest's dtype and shape, and its
//! data offsets are exactly the bytes of the chunks the manifest lists for it. A publisher
//! is trusted to chunk by the rules (SPEC.md §3.2), but a file whose header and manifest
//! disagree is refused rather than written wrong.

use std::collections::HashMap;

use ostrom_protocol::FileEntry;
use safetensors::tensor::{Metadata, TensorInfo};

use super::{SubsetError, SubsetLayout};

/// The subset file's header region, `layout.header_len` bytes: the JSON length, the JSON
/// listing the selected tensors at their new offsets with the original `__metadata__`,
/// then spaces. `region` is the original file's header region.
pub fn rebuild_header(
    region: &[u8],
    entry: &FileEntry,
    layout: &SubsetLayout,
) -> Result<Vec<u8>, SubsetError> {
    let mismatch = |reason: String| SubsetError::Mismatch {
        path: entry.path.clone(),
        reason,
    };
    if region.len() as u64 != layout.header_len || region.len() < 8 {
        return Err(mismatch(format!(
            "its header chunks hold {} bytes, not a header region",
            region.len()
        )));
    }
    let mut length = [0u8; 8];
    length.copy_from_slice(&region[..8]);
    let json_len = u64::from_le_bytes(length);
    if json_len.checked_add(8) != Some(layout.header_len) {
        return Err(mismatch(format!(
            "the header is {json_len} bytes long, but its chunks hold {} bytes after the length",
            layout.header_len - 8
        )));
    }
    let json = std::str::from_utf8(&region[8..])
        .map_err(|e| mismatch(format!("the header is not UTF-8: {e}")))?;
    let original: Metadata =
        serde_json::from_str(json).map_err(|e| mismatch(format!("the header: {e}")))?;
    let data_len = entry.size - layout.header_len;
    if original.data_len() as u64 != data_len {
        return Err(mismatch(format!(
            "the header's tensors cover {} bytes, the manifest's {data_len}",
            original.data_len()
        )));
    }
    let mut tensors: Vec<(String, TensorInfo)> = Vec::with_capacity(layout.tensors.len());
    for (i, (&index, &begin)) in layout.tensors.iter().zip(&layout.begins).enumerate() {
        let listed = &entry.tensors[index];
        let name = &listed.name;
        let info = original
            .info(name)
            .ok_or_else(|| mismatch(format!("the header has no tensor {name:?}")))?;
        let shape: Vec<u64> = info.shape.iter().map(|&d| d as u64).collect();
        if info.dtype.to_string() != listed.dtype || shape != listed.shape {
            return Err(mismatch(format!(
                "tensor {name:?} is {} {:?} in the header, {} {:?} in the manifest",
                info.dtype, shape, listed.dtype, listed.shape
            )));
        }
        let (start, end) = layout.original_range(entry, i);
        let len = end - start;
        let (header_begin, header_end) = (info.data_offsets.0 as u64, info.data_offsets.1 as u64);
        let same_bytes = header_end.checked_sub(header_begin) == Some(len)
            && (len == 0 || start - layout.header_len == header_begin);
        if !same_bytes {
            return Err(mismatch(format!(
                "tensor {name:?} lies at [{header_begin}, {header_end}) in the header, but its \
                 chunks hold [{}, {}) of the data",
                start - layout.header_len,
                end - layout.header_len
            )));
        }
        let info = TensorInfo {
            dtype: info.dtype,
            shape: info.shape.clone(),
            data_offsets: (begin as usize, (begin + len) as usize),
        };
        tensors.push((name.clone(), info));
    }
    let metadata: Option<HashMap<String, String>> = original.metadata().clone();
    let subset = Metadata::new(metadata, tensors)
        .map_err(|e| mismatch(format!("the subset's header: {e}")))?;
    let mut json =
        serde_json::to_vec(&subset).map_err(|e| mismatch(format!("the subset's header: {e}")))?;
    if json.len() as u64 > json_len {
        return Err(mismatch(format!(
            "the subset's header of {} bytes does not fit in the original's {json_len}",
            json.len()
        )));
    }
    json.resize(json_len as usize, b' ');
    let mut header = Vec::with_capacity(layout.header_len as usize);
    header.extend_from_slice(&length);
    header.extend_from_slice(&json);
    Ok(header)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ostrom_protocol::chunking::chunk_file;
    use safetensors::tensor::{Dtype, TensorView};
    use safetensors::SafeTensors;

    use super::*;
    use crate::subset::{plan_file, FilePlan, TensorSelection};

    /// A safetensors file with a metadata entry, `layers.0.w` (F32, 3×4), `layers.1.w`
    /// (BF16, 2×600 000: two chunks), `bias` (U8, 5) and an empty `empty` (F32, 0).
    fn original() -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
        let w0: Vec<u8> = (0..48u8).collect();
        let w1: Vec<u8> = (0..2_400_000u32).map(|i| (i % 251) as u8).collect();
        let bias = vec![9u8, 8, 7, 6, 5];
        let views = vec![
            ("layers.0.w", TensorView::new(Dtype::F32, vec![3, 4], &w0)),
            (
                "layers.1.w",
                TensorView::new(Dtype::BF16, vec![2, 600_000], &w1),
            ),
            ("bias", TensorView::new(Dtype::U8, vec![5], &bias)),
            ("empty", TensorView::new(Dtype::F32, vec![0], &[])),
        ];
        let views: Vec<(&str, TensorView)> = views
            .into_iter()
            .map(|(n, v)| (n, v.expect("view")))
            .collect();
        let info = HashMap::from([("format".to_owned(), "pt".to_owned())]);
        let bytes = safetensors::serialize(views, Some(info)).expect("serialize");
        let data = vec![
            ("layers.0.w".to_owned(), w0),
            ("layers.1.w".to_owned(), w1),
            ("bias".to_owned(), bias),
            ("empty".to_owned(), Vec::new()),
        ];
        (bytes, data)
    }

    fn entry_of(bytes: &[u8]) -> FileEntry {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, bytes).expect("write");
        let chunked = chunk_file(&path, "model.safetensors").expect("chunk");
        FileEntry {
            path: "model.safetensors".to_owned(),
            size: chunked.size,
            id: chunked.id,
            chunks: chunked.chunks,
            tensors: chunked.tensors,
        }
    }

    /// The subset file as a fetch writes it: the new header, then each placed chunk.
    fn subset_file(bytes: &[u8], entry: &FileEntry, layout: &SubsetLayout) -> Vec<u8> {
        let region = &bytes[..layout.header_len as usize];
        let mut file = rebuild_header(region, entry, layout).expect("header");
        file.resize(layout.size as usize, 0);
        let starts: Vec<u64> = entry.chunk_offsets().map(|(o, _)| o).collect();
        for placement in layout.tensor_placements(entry) {
            let from = starts[placement.chunk] as usize;
            let len = entry.chunks[placement.chunk].len as usize;
            let to = placement.offset as usize;
            file[to..to + len].copy_from_slice(&bytes[from..from + len]);
        }
        file
    }

    #[test]
    fn the_subset_loads_with_the_selected_tensors_and_the_metadata() {
        let (bytes, data) = original();
        let entry = entry_of(&bytes);
        let patterns = [
            "layers.1.*".to_owned(),
            "bias".to_owned(),
            "empty".to_owned(),
        ];
        let selection = TensorSelection::new(&patterns, false).expect("patterns");
        let FilePlan::Subset(layout) = plan_file(&entry, &selection) else {
            panic!("a subset");
        };
        let file = subset_file(&bytes, &entry, &layout);
        assert_eq!(file.len() as u64, layout.size);
        let loaded = SafeTensors::deserialize(&file).expect("a valid safetensors file");
        let mut names = loaded.names();
        names.sort();
        assert_eq!(names, vec!["bias", "empty", "layers.1.w"]);
        for (name, want) in &data[1..] {
            let tensor = loaded.tensor(name).expect("tensor");
            assert_eq!(tensor.data(), want.as_slice(), "{name}");
        }
        assert_eq!(loaded.tensor("layers.1.w").expect("t").dtype(), Dtype::BF16);
        let (_, metadata) = SafeTensors::read_metadata(&file).expect("metadata");
        assert_eq!(
            metadata.metadata().as_ref().and_then(|m| m.get("format")),
            Some(&"pt".to_owned())
        );
        // The data region starts where the original's does, so alignment is kept.
        assert_eq!(
            layout.header_len,
            8 + u64::from_le_bytes(bytes[..8].try_into().expect("8"))
        );
    }

    #[test]
    fn a_header_that_disagrees_with_the_manifest_is_refused() {
        let (bytes, _) = original();
        let selection = TensorSelection::new(&["bias".to_owned()], false).expect("pattern");
        let entry = entry_of(&bytes);
        let FilePlan::Subset(layout) = plan_file(&entry, &selection) else {
            panic!("a subset");
        };
        let region = &bytes[..layout.header_len as usize];

        let mut dtype = entry.clone();
        let bias = dtype
            .tensors
            .iter_mut()
            .find(|t| t.name == "bias")
            .expect("bias");
        bias.dtype = "I8".to_owned();
        let error = rebuild_header(region, &dtype, &layout).expect_err("dtype differs");
        assert!(error.to_string().contains("in the manifest"), "{error}");

        let mut renamed = entry.clone();
        let bias = renamed
            .tensors
            .iter_mut()
            .find(|t| t.name == "bias")
            .expect("bias");
        bias.name = "bias2".to_owned();
        let error = rebuild_header(region, &renamed, &layout).expect_err("no such tensor");
        assert!(error.to_string().contains("no tensor"), "{error}");

        let mut cut = region.to_vec();
        cut[0] ^= 1;
        assert!(rebuild_header(&cut, &entry, &layout).is_err());
        assert!(rebuild_header(&region[..4], &entry, &layout).is_err());
    }
}
