//! Checks of [`crate::safetensors_header`]: whether a safetensors file can be published.

use crate::limits::{MAX_TENSORS_PER_FILE, MAX_TENSOR_NAME_LEN, MAX_TENSOR_RANK};
use crate::safetensors_header::{accept, header_len, Refusal};

/// Reads the input as a whole safetensors file. [`accept`] and the `safetensors` library
/// agree on whether it is one at all; an accepted header lists the library's tensors, in
/// file order, inside the file's data and within the manifest's limits.
pub fn safetensors_header(data: &[u8]) {
    let size = data.len() as u64;
    let ours = accept(data, size);
    if data_reaches_past_usize(data) {
        // The library adds these offsets unchecked (a panic where overflow is checked).
        assert!(matches!(ours, Err(Refusal::Malformed(_))), "{ours:?}");
        return;
    }
    let library = safetensors::SafeTensors::deserialize(data);
    match (&ours, &library) {
        (Err(Refusal::Malformed(_)), Err(_)) | (Ok(_) | Err(Refusal::Limit(_)), Ok(_)) => {}
        (Err(Refusal::Malformed(reason)), Ok(_)) => {
            panic!("refused as not safetensors, which the library reads: {reason}")
        }
        (_, Err(error)) => panic!("accepted, but the library refuses it: {error}"),
    }
    let (Ok(header), Ok(library)) = (ours, library) else {
        return;
    };
    let length = header_len(data, size).expect("an accepted header's length");
    assert_eq!(header.data_start, 8 + length);
    let data_len = size - header.data_start;
    assert_eq!(header.tensors.len(), library.len());
    assert!(header.tensors.len() <= MAX_TENSORS_PER_FILE);
    let mut end = 0;
    for tensor in &header.tensors {
        assert!(tensor.begin <= tensor.end && tensor.end <= data_len);
        assert_eq!(tensor.begin, end, "tensors out of order or apart");
        end = tensor.end;
        assert!(!tensor.name.is_empty() && tensor.name.len() <= MAX_TENSOR_NAME_LEN);
        assert!(!tensor.dtype.is_empty() && tensor.dtype.len() <= MAX_TENSOR_NAME_LEN);
        assert!(tensor.shape.len() <= MAX_TENSOR_RANK);
        let view = library
            .tensor(&tensor.name)
            .expect("the library knows the tensor");
        assert_eq!(view.dtype().to_string(), tensor.dtype);
        let shape: Vec<u64> = view.shape().iter().map(|&d| d as u64).collect();
        assert_eq!(shape, tensor.shape);
        assert_eq!(view.data().len() as u64, tensor.end - tensor.begin);
    }
    assert_eq!(end, data_len);
}

/// Whether the file's header parses and its data region ends past `usize::MAX`.
fn data_reaches_past_usize(data: &[u8]) -> bool {
    let Ok(length) = header_len(data, data.len() as u64) else {
        return false;
    };
    let json = data.get(8..8 + length as usize).unwrap_or_default();
    let Ok(metadata) = serde_json::from_slice::<safetensors::tensor::Metadata>(json) else {
        return false;
    };
    metadata
        .data_len()
        .checked_add(8 + length as usize)
        .is_none()
}
