//! The sentence encoder: a BERT-family sentence-transformers folder run on the CPU with candle.
//!
//! A sentence-transformers folder is more than a BERT checkpoint, and every part of it changes
//! the vectors:
//!
//! - `modules.json` lists the pipeline: the transformer, a pooling module (its folder, usually
//!   `1_Pooling/`) and, for models trained for cosine similarity, a `Normalize` step;
//! - the pooling folder's `config.json` says how token vectors become one: the mean of the
//!   tokens the attention mask keeps (never the padding), or the `[CLS]` token's vector;
//! - `sentence_bert_config.json` holds the model's own input length (`max_seq_length`, 256 for
//!   all-MiniLM-L6-v2) and whether text is lowercased first. The `tokenizer.json` carries a
//!   truncation (128 for all-MiniLM-L6-v2) and a padding of its own that are *not* the model's:
//!   truncation is set from `sentence_bert_config.json` and padding turned off here, and a batch
//!   is padded by hand with its attention mask.
//!
//! The weights are memory-mapped from `model.safetensors`; nothing is downloaded. The model's
//! identity ([`Encoder::id`]) is a hash of every file that shapes its vectors (the weights by
//! their size and safetensors header), so vectors cached for one model are never used with
//! another.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use rayon::prelude::*;
use serde::Deserialize;
use thiserror::Error;
use tokenizers::{Tokenizer, TruncationParams};

/// Texts encoded in one forward pass: padding is cut by sorting texts by length first, and a
/// larger batch gained nothing on two cores.
const BATCH: usize = 16;
/// Longest text handed to the tokenizer, in bytes: far more than `max_seq_length` tokens of any
/// text, so the cut never changes what the model reads, while a pasted log is not tokenized whole.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Why a model folder cannot be used.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("semantic model {}: {message}", path.display())]
    Load { path: PathBuf, message: String },
    #[error("semantic model: {0}")]
    Run(String),
}

impl ModelError {
    fn load(path: &Path, message: impl std::fmt::Display) -> ModelError {
        ModelError::Load {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

impl From<candle_core::Error> for ModelError {
    fn from(err: candle_core::Error) -> Self {
        ModelError::Run(err.to_string())
    }
}

/// How token vectors become the text's vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean of the tokens the attention mask keeps.
    Mean,
    /// The `[CLS]` token's vector.
    Cls,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

/// A loaded sentence encoder. Shared by the search threads and the background embedder:
/// encoding takes `&self`.
pub struct Encoder {
    folder: PathBuf,
    id: String,
    model: BertModel,
    tokenizer: Tokenizer,
    pooling: Pooling,
    normalize: bool,
    lowercase: bool,
    max_tokens: usize,
    dimensions: usize,
    pad_id: u32,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("folder", &self.folder)
            .field("id", &self.id)
            .field("pooling", &self.pooling)
            .field("normalize", &self.normalize)
            .field("max_tokens", &self.max_tokens)
            .field("dimensions", &self.dimensions)
            .finish()
    }
}

fn read(folder: &Path, name: &str) -> Result<Vec<u8>, ModelError> {
    let path = folder.join(name);
    std::fs::read(&path).map_err(|err| ModelError::load(&path, err))
}

fn parse<T: for<'de> Deserialize<'de>>(
    folder: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<T, ModelError> {
    serde_json::from_slice(bytes).map_err(|err| ModelError::load(&folder.join(name), err))
}

/// The safetensors header (its length and JSON): names, shapes and types of every weight.
fn safetensors_header(path: &Path) -> Result<Vec<u8>, ModelError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|err| ModelError::load(path, err))?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length)
        .map_err(|err| ModelError::load(path, err))?;
    let header_length = u64::from_le_bytes(length);
    if header_length > 100 * 1024 * 1024 {
        return Err(ModelError::load(path, "not a safetensors file"));
    }
    let mut header = vec![0u8; header_length as usize];
    file.read_exact(&mut header)
        .map_err(|err| ModelError::load(path, err))?;
    let mut all = length.to_vec();
    all.extend(header);
    Ok(all)
}

impl Encoder {
    /// Loads a sentence-transformers folder (`config.json`, `model.safetensors`,
    /// `tokenizer.json`, `modules.json`, the pooling folder, `sentence_bert_config.json`).
    pub fn load(folder: &Path) -> Result<Encoder, ModelError> {
        let config_bytes = read(folder, "config.json")?;
        let config: BertConfig = parse(folder, "config.json", &config_bytes)?;
        let modules_bytes = read(folder, "modules.json").unwrap_or_default();
        let modules: Vec<ModuleEntry> = if modules_bytes.is_empty() {
            Vec::new()
        } else {
            parse(folder, "modules.json", &modules_bytes)?
        };
        let pooling_dir = modules
            .iter()
            .find(|m| m.kind.ends_with(".Pooling"))
            .map_or_else(|| "1_Pooling".to_string(), |m| m.path.clone());
        let pooling_name = format!("{pooling_dir}/config.json");
        let pooling_bytes = read(folder, &pooling_name)?;
        let pooling_config: PoolingConfig = parse(folder, &pooling_name, &pooling_bytes)?;
        let pooling = match (
            pooling_config.pooling_mode_cls_token,
            pooling_config.pooling_mode_mean_tokens,
        ) {
            (true, false) => Pooling::Cls,
            (false, true) => Pooling::Mean,
            _ => {
                return Err(ModelError::load(
                    &folder.join(&pooling_name),
                    "only mean or CLS pooling (one of them) is supported",
                ));
            }
        };
        if pooling_config.pooling_mode_max_tokens
            || pooling_config.pooling_mode_mean_sqrt_len_tokens
        {
            return Err(ModelError::load(
                &folder.join(&pooling_name),
                "max and mean-sqrt-length pooling are not supported",
            ));
        }
        let normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
        let sbert_bytes = read(folder, "sentence_bert_config.json").unwrap_or_default();
        let sbert: SentenceBertConfig = if sbert_bytes.is_empty() {
            SentenceBertConfig {
                max_seq_length: None,
                do_lower_case: false,
            }
        } else {
            parse(folder, "sentence_bert_config.json", &sbert_bytes)?
        };
        let max_tokens = sbert
            .max_seq_length
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);

        let tokenizer_path = folder.join("tokenizer.json");
        let tokenizer_bytes = read(folder, "tokenizer.json")?;
        let mut tokenizer = Tokenizer::from_bytes(&tokenizer_bytes)
            .map_err(|err| ModelError::load(&tokenizer_path, err))?;
        // The model's own length, not the tokenizer file's; no padding: batches are padded here,
        // with their attention mask.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|err| ModelError::load(&tokenizer_path, err))?;
        tokenizer.with_padding(None);

        let weights = folder.join("model.safetensors");
        let header = safetensors_header(&weights)?;
        let weights_size = std::fs::metadata(&weights)
            .map_err(|err| ModelError::load(&weights, err))?
            .len();
        let mut hasher = blake3::Hasher::new();
        for part in [
            &config_bytes[..],
            &modules_bytes,
            &pooling_bytes,
            &sbert_bytes,
            &tokenizer_bytes,
            &header,
            &weights_size.to_le_bytes(),
        ] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let id = hasher.finalize().to_hex()[..16].to_string();

        let device = Device::Cpu;
        // SAFETY: the file is memory-mapped read-only; like every mmap it must not be truncated
        // while the service runs (the model folder is installed by the operator, not edited).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .map_err(|err| ModelError::load(&weights, err))?;
        let model = BertModel::load(vb, &config).map_err(|err| ModelError::load(&weights, err))?;
        Ok(Encoder {
            folder: folder.to_path_buf(),
            id,
            model,
            tokenizer,
            pooling,
            normalize,
            lowercase: sbert.do_lower_case,
            max_tokens,
            dimensions: config.hidden_size,
            pad_id: config.pad_token_id as u32,
        })
    }

    /// The model's identity: a hash of everything that shapes its vectors.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The folder's name, for status pages and logs.
    pub fn name(&self) -> String {
        self.folder.file_name().map_or_else(
            || self.folder.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// Length of a vector.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Tokens the model reads of a text (the rest is cut off).
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Whether vectors are unit length (cosine = dot product).
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// The vector of one text.
    pub fn encode_one(&self, text: &str) -> Result<Vec<f32>, ModelError> {
        self.encode_within(text, self.max_tokens)
    }

    /// The vector of one text of which the model reads at most `max_tokens` tokens (the special
    /// tokens included): a request's text is cut shorter than an article's, since the cost of a
    /// forward pass grows with its length and a request waits for it.
    pub fn encode_within(&self, text: &str, max_tokens: usize) -> Result<Vec<f32>, ModelError> {
        let mut ids = self.tokenize(text)?;
        let max_tokens = max_tokens.max(2);
        if ids.len() > max_tokens {
            // Keep the closing special token, as the tokenizer's own truncation does.
            let last = *ids.last().expect("more than two ids");
            ids.truncate(max_tokens - 1);
            ids.push(last);
        }
        Ok(self
            .forward(&[&ids])?
            .pop()
            .expect("one vector for one text"))
    }

    /// The token ids the model reads of `text`, special tokens included.
    fn tokenize(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let cut = cut_text(text, MAX_TEXT_BYTES);
        let input = if self.lowercase {
            cut.to_lowercase()
        } else {
            cut.to_string()
        };
        let encoding = self
            .tokenizer
            .encode_fast(input, true)
            .map_err(|err| ModelError::Run(err.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The vectors of `texts`, in order. Texts are batched by length, so padding stays short.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let tokenized = texts
            .iter()
            .map(|text| self.tokenize(text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| tokenized[i].len());
        // Batches run side by side on the current rayon pool: the matrix products use every
        // core, but the rest of a forward pass (softmax, norms, copies) runs on one.
        let batches: Vec<&[usize]> = order.chunks(BATCH).collect();
        let computed = batches
            .par_iter()
            .map(|batch| {
                let ids: Vec<&[u32]> = batch.iter().map(|&i| tokenized[i].as_slice()).collect();
                self.forward(&ids)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for (batch, batch_vectors) in batches.iter().zip(computed) {
            for (&i, vector) in batch.iter().zip(batch_vectors) {
                vectors[i] = vector;
            }
        }
        Ok(vectors)
    }

    /// One forward pass over a batch of token ids, padded to the longest with their mask.
    fn forward(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>, ModelError> {
        let longest = batch.iter().map(|ids| ids.len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(batch.len() * longest);
        let mut mask = Vec::with_capacity(batch.len() * longest);
        for tokens in batch {
            ids.extend_from_slice(tokens);
            ids.extend(std::iter::repeat_n(self.pad_id, longest - tokens.len()));
            mask.extend(std::iter::repeat_n(1u32, tokens.len()));
            mask.extend(std::iter::repeat_n(0u32, longest - tokens.len()));
        }
        let device = Device::Cpu;
        let shape = (batch.len(), longest);
        let input_ids = Tensor::from_vec(ids, shape, &device)?;
        let attention_mask = Tensor::from_vec(mask, shape, &device)?;
        let token_type_ids = input_ids.zeros_like()?;
        let hidden = self
            .model
            .forward(&input_ids, &token_type_ids, Some(&attention_mask))?;
        let pooled = match self.pooling {
            Pooling::Cls => hidden.i((.., 0))?,
            Pooling::Mean => {
                // Only the tokens the mask keeps: padding must not change a text's vector.
                let mask = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
                let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                summed.broadcast_div(&counts)?
            }
        };
        let pooled = if self.normalize {
            let norms = pooled
                .sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .clamp(1e-12f32, f32::MAX)?;
            pooled.broadcast_div(&norms)?
        } else {
            pooled
        };
        Ok(pooled.to_vec2::<f32>()?)
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cut_text(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Cosine similarity; a plain dot product when both vectors are unit length.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let mut dot = 0.0f32;
    let mut a2 = 0.0f32;
    let mut b2 = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        a2 += x * x;
        b2 += y * y;
    }
    let norms = (a2 * b2).sqrt();
    if norms > 0.0 { dot / norms } else { 0.0 }
}

/// Dot product, for unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_cut_at_character_boundaries() {
        assert_eq!(cut_text("héllo", 2), "h");
        assert_eq!(cut_text("héllo", 3), "hé");
        assert_eq!(cut_text("abc", 10), "abc");
    }

    #[test]
    fn cosine_of_parallel_and_orthogonal_vectors() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
