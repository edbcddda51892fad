//! Whether a safetensors file can be published: its header read as the `safetensors`
//! library reads it, then Ostrom's manifest limits applied to every tensor (SPEC.md §3.2).
//!
//! [`accept`] is the one place this is decided. Chunking calls it, and both `ostrom verify`
//! and publishing chunk every file, so the two never disagree about a file. A refusal says
//! whether the file is not safetensors at all ([`Refusal::Malformed`], which the library
//! refuses too) or is valid but breaks a limit the manifest needs ([`Refusal::Limit`]); a
//! limit refusal names the tensor.

use crate::limits::{
    MAX_SAFETENSORS_HEADER, MAX_TENSORS_PER_FILE, MAX_TENSOR_NAME_LEN, MAX_TENSOR_RANK,
};

/// Bytes of a tensor name shown in a message before it is cut short.
const NAME_SHOWN: usize = 40;

/// Why a safetensors file cannot be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a valid safetensors file: the `safetensors` library refuses it as well.
    #[error("not a valid safetensors file: {0}")]
    Malformed(String),
    /// A valid safetensors file that breaks one of the manifest's limits.
    #[error("{0}")]
    Limit(String),
}

/// A tensor of an accepted header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderTensor {
    /// Its name.
    pub name: String,
    /// Its dtype as the header spells it (`BF16`, `F8_E4M3FNUZ`, ...).
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Where its bytes begin, counted from the start of the data region.
    pub begin: u64,
    /// Where they end (exclusive).
    pub end: u64,
}

/// An accepted header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Where the data region begins: 8 + the JSON header's length.
    pub data_start: u64,
    /// The tensors in file order; empty tensors at one offset ordered by name.
    pub tensors: Vec<HeaderTensor>,
}

/// The JSON header's length, from the first 8 bytes of a file of `size` bytes; refused
/// when the file is too short for it or it is over [`MAX_SAFETENSORS_HEADER`].
pub fn header_len(head: &[u8], size: u64) -> Result<u64, Refusal> {
    let malformed = |reason: String| Err(Refusal::Malformed(reason));
    let Some(length) = head.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
        return malformed(format!(
            "the file is {size} bytes, shorter than the 8-byte header length"
        ));
    };
    let length = u64::from_le_bytes(length);
    if length > MAX_SAFETENSORS_HEADER {
        return malformed(format!(
            "header length {length} is over the limit of {MAX_SAFETENSORS_HEADER}"
        ));
    }
    if 8 + length > size {
        return malformed(format!(
            "header length {length} runs past the end of the {size}-byte file"
        ));
    }
    Ok(length)
}

/// A tensor name as messages show it: quoted, escaped, and cut short with `…`.
pub fn shown_name(name: &str) -> String {
    let mut end = name.len().min(NAME_SHOWN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < name.len() { "…" } else { "" };
    format!("\"{}{cut}\"", name[..end].escape_debug())
}

/// Decides whether a safetensors file of `size` bytes whose first bytes are `head` (the
/// 8-byte length and at least the whole JSON header) can be published, and returns its
/// tensors in file order.
pub fn accept(head: &[u8], size: u64) -> Result<Header, Refusal> {
    let length = header_len(head, size)?;
    let data_start = 8 + length;
    let malformed = |reason: String| Refusal::Malformed(reason);
    let json = head
        .get(8..data_start as usize)
        .ok_or_else(|| malformed("the header bytes are missing".to_owned()))?;
    let json = std::str::from_utf8(json)
        .map_err(|e| malformed(format!("the header is not UTF-8: {e}")))?;
    let metadata: safetensors::tensor::Metadata =
        serde_json::from_str(json).map_err(|e| malformed(format!("header: {e}")))?;
    let data_len = metadata.data_len() as u64;
    // The library checks each tensor's offsets against its size, not how far they reach:
    // the last may end so far that the data region's end is past u64.
    if data_start.checked_add(data_len) != Some(size) {
        return Err(malformed(format!(
            "the tensors cover {data_len} bytes after the header but the file has {} there",
            size - data_start
        )));
    }
    let infos = metadata.tensors();
    if infos.len() > MAX_TENSORS_PER_FILE {
        return Err(Refusal::Limit(format!(
            "{} tensors, above Ostrom's limit of {MAX_TENSORS_PER_FILE} per file",
            infos.len()
        )));
    }
    let mut tensors: Vec<HeaderTensor> = infos
        .into_iter()
        .map(|(name, info)| HeaderTensor {
            name,
            dtype: info.dtype.to_string(),
            shape: info.shape.iter().map(|&d| d as u64).collect(),
            begin: info.data_offsets.0 as u64,
            end: info.data_offsets.1 as u64,
        })
        .collect();
    tensors.sort_by(|a, b| {
        (a.begin, a.end)
            .cmp(&(b.begin, b.end))
            .then_with(|| a.name.cmp(&b.name))
    });
    for tensor in &tensors {
        check_limits(tensor).map_err(Refusal::Limit)?;
    }
    Ok(Header {
        data_start,
        tensors,
    })
}

/// The manifest's limits on one tensor (SPEC.md §5.3 F4), as a message naming it.
fn check_limits(tensor: &HeaderTensor) -> Result<(), String> {
    let name = shown_name(&tensor.name);
    if tensor.name.is_empty() {
        return Err(format!(
            "tensor \"\" (data offsets [{}, {})) has an empty name; Ostrom's manifest needs 1 to {MAX_TENSOR_NAME_LEN} bytes",
            tensor.begin, tensor.end
        ));
    }
    if tensor.name.len() > MAX_TENSOR_NAME_LEN {
        return Err(format!(
            "tensor {name} has a name of {} bytes, above Ostrom's limit of {MAX_TENSOR_NAME_LEN}",
            tensor.name.len()
        ));
    }
    if tensor.dtype.is_empty() || tensor.dtype.len() > MAX_TENSOR_NAME_LEN {
        return Err(format!(
            "tensor {name} has a dtype of {} bytes, outside Ostrom's 1 to {MAX_TENSOR_NAME_LEN}",
            tensor.dtype.len()
        ));
    }
    if tensor.shape.len() > MAX_TENSOR_RANK {
        return Err(format!(
            "tensor {name} has rank {}, above Ostrom's limit of {MAX_TENSOR_RANK}",
            tensor.shape.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        assert_eq!(shown_name("w"), "\"w\"");
        assert_eq!(shown_name(""), "\"\"");
        let long = "é".repeat(30);
        let shown = shown_name(&long);
        assert!(shown.ends_with("…\""), "{shown}");
        assert_eq!(shown.chars().filter(|&c| c == 'é').count(), NAME_SHOWN / 2);
        assert_eq!(shown_name("a\nb"), "\"a\\nb\"");
    }
    #[test]
    fn tensors_reaching_past_u64_are_malformed() {
        // Eight tensors of 2^61 - 1 bytes each, their offsets consistent with their sizes,
        // end 8 bytes short of 2^64: the data region would end past u64.
        let size = (1u64 << 61) - 1;
        let tensors: Vec<String> = (0..8)
            .map(|i| {
                let (begin, end) = (i * size, (i + 1) * size);
                format!(
                    r#""t{i}":{{"dtype":"U8","shape":[{size}],"data_offsets":[{begin},{end}]}}"#
                )
            })
            .collect();
        let json = format!("{{{}}}", tensors.join(","));
        let mut file = (json.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(json.as_bytes());
        let refusal = accept(&file, file.len() as u64).expect_err("refused");
        assert!(matches!(refusal, Refusal::Malformed(_)), "{refusal}");
    }
}
