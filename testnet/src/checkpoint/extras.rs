//! The small files that travel with weights: a Hugging Face style `config.json` for the
//! model's shape, and a small byte-level BPE `tokenizer.json`.

use serde_json::{json, Map, Value};

use super::shape::ModelShape;

/// Common English merges for the toy tokenizer (byte-level, `Ġ` marks a leading space).
const MERGES: [(&str, &str); 24] = [
    ("t", "h"),
    ("i", "n"),
    ("e", "r"),
    ("a", "n"),
    ("r", "e"),
    ("o", "n"),
    ("Ġ", "t"),
    ("Ġ", "a"),
    ("e", "n"),
    ("a", "t"),
    ("o", "r"),
    ("e", "s"),
    ("Ġ", "s"),
    ("Ġ", "w"),
    ("i", "s"),
    ("Ġt", "h"),
    ("Ġth", "e"),
    ("in", "g"),
    ("Ġ", "o"),
    ("Ġ", "c"),
    ("e", "d"),
    ("n", "d"),
    ("Ġa", "nd"),
    ("Ġ", "m"),
];

/// Special tokens, in id order.
const SPECIALS: [&str; 3] = ["<unk>", "<s>", "</s>"];

/// `config.json` describing `shape` as a Llama-style model in bfloat16.
pub(crate) fn config_json(shape: &ModelShape) -> Value {
    json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": shape.hidden,
        "intermediate_size": shape.intermediate,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.heads,
        "vocab_size": shape.vocab,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": false,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "bfloat16",
    })
}

/// A byte-level BPE `tokenizer.json` in the `tokenizers` library's format: special
/// tokens, the 256 byte symbols, and a few merges.
pub(crate) fn tokenizer_json() -> Value {
    let mut vocab = Map::new();
    let mut add = |token: String| {
        let id = vocab.len();
        vocab.entry(token).or_insert_with(|| json!(id));
    };
    for special in SPECIALS {
        add(special.to_owned());
    }
    for byte in 0..=255u8 {
        add(byte_symbol(byte).to_string());
    }
    for (a, b) in MERGES {
        add(format!("{a}{b}"));
    }
    let added: Vec<Value> = SPECIALS
        .iter()
        .enumerate()
        .map(|(id, content)| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let merges: Vec<String> = MERGES.iter().map(|(a, b)| format!("{a} {b}")).collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false,
                          "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true,
                    "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": "<unk>",
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "vocab": vocab,
            "merges": merges,
        },
    })
}

/// GPT-2's byte-to-symbol map: printable bytes stand for themselves, the others for
/// code points from 256 up, in byte order.
fn byte_symbol(byte: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
    if printable(byte) {
        return char::from(byte);
    }
    let shifted = (0..byte).filter(|&b| !printable(b)).count() as u32;
    char::from_u32(256 + shifted).unwrap_or(char::REPLACEMENT_CHARACTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_symbols_match_gpt2() {
        assert_eq!(byte_symbol(b'a'), 'a');
        assert_eq!(byte_symbol(b' '), 'Ġ');
        assert_eq!(byte_symbol(b'\n'), 'Ċ');
    }

    #[test]
    fn every_merge_part_is_in_the_vocab() {
        let tok = tokenizer_json();
        let vocab = tok["model"]["vocab"].as_object().expect("vocab object");
        assert_eq!(vocab.len(), SPECIALS.len() + 256 + MERGES.len());
        for (a, b) in MERGES {
            assert!(vocab.contains_key(a) && vocab.contains_key(b), "{a} {b}");
        }
    }
}
