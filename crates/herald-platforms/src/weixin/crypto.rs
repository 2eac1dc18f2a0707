//! Media encryption for the iLink CDN: AES-128-ECB with PKCS#7 padding, and the key
//! encodings WeChat uses (reference §B.9, Hermes §12.6).
//!
//! ECB is weak (equal blocks give equal ciphertext), but it is what the CDN speaks; every
//! implementation of the protocol uses it, so there is no choice here.
//!
//! Keys are secrets: nothing in this module logs them, and no error carries key bytes or
//! the text a key was decoded from.

use aes::Aes128;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use md5::{Digest, Md5};

/// AES block size in bytes.
const BLOCK: usize = 16;

/// Why a ciphertext or a key was refused. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext length {len} is not a positive multiple of 16")]
    CipherLength { len: usize },
    #[error("invalid PKCS#7 padding (wrong key, or a corrupt or truncated download)")]
    BadPadding,
    #[error("image_item.aeskey is not 32 hex characters")]
    ImageKey,
    #[error("media.aes_key is neither base64 of 16 bytes, base64 of 32 hex characters, nor 32 hex characters")]
    MediaKey,
}

fn cipher(key: &[u8; 16]) -> Aes128 {
    Aes128::new(GenericArray::from_slice(key))
}

/// Encrypts with AES-128-ECB after PKCS#7 padding; the result is
/// [`padded_size`]`(plain.len())` bytes long (always 1 to 16 bytes longer than the input).
pub fn encrypt(key: &[u8; 16], plain: &[u8]) -> Vec<u8> {
    let pad = BLOCK - plain.len() % BLOCK;
    let mut out = Vec::with_capacity(plain.len() + pad);
    out.extend_from_slice(plain);
    out.resize(plain.len() + pad, pad as u8);
    let aes = cipher(key);
    for block in out.chunks_exact_mut(BLOCK) {
        aes.encrypt_block(GenericArray::from_mut_slice(block));
    }
    out
}

/// Decrypts AES-128-ECB and removes the PKCS#7 padding, which must be valid: a last byte
/// of 1 to 16 and that many bytes equal to it. A wrong key almost always fails here.
pub fn decrypt(key: &[u8; 16], cipher_text: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if cipher_text.is_empty() || !cipher_text.len().is_multiple_of(BLOCK) {
        return Err(CryptoError::CipherLength { len: cipher_text.len() });
    }
    let mut out = cipher_text.to_vec();
    let aes = cipher(key);
    for block in out.chunks_exact_mut(BLOCK) {
        aes.decrypt_block(GenericArray::from_mut_slice(block));
    }
    let pad = usize::from(out[out.len() - 1]);
    if pad == 0 || pad > BLOCK || !out[out.len() - pad..].iter().all(|&b| usize::from(b) == pad) {
        return Err(CryptoError::BadPadding);
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

/// The ciphertext size for `raw` plaintext bytes (`filesize` of `getuploadurl`):
/// `ceil((raw + 1) / 16) * 16`. Saturates instead of overflowing near `u64::MAX`.
pub fn padded_size(raw: u64) -> u64 {
    (raw / BLOCK as u64).saturating_add(1).saturating_mul(BLOCK as u64)
}

/// Exactly 32 ASCII hex digits, decoded.
fn hex_key(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut key = [0u8; 16];
    hex::decode_to_slice(s, &mut key).ok()?;
    Some(key)
}

/// Base64 in any of the alphabets and padding styles senders have been seen to use.
fn base64_any(s: &str) -> Option<Vec<u8>> {
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(s).ok())
}

/// `media.aes_key` in every encoding of §B.9: base64 of 16 raw bytes (seen for images),
/// base64 of the 32-character hex string (files, voice, video, and what we send), or the
/// bare 32-character hex string (accepted by other clients). The three never collide: 32
/// hex characters decode as base64 to 24 bytes, never to 16 or 32.
fn media_key(s: &str) -> Option<[u8; 16]> {
    if let Some(key) = hex_key(s) {
        return Some(key);
    }
    let bytes = base64_any(s)?;
    match bytes.len() {
        16 => bytes.try_into().ok(),
        32 => hex_key(std::str::from_utf8(&bytes).ok()?),
        _ => None,
    }
}

/// The AES key for an inbound media item, from `image_item.aeskey` (hex, preferred, images
/// only) and `media.aes_key` (see [`media_key`] for its encodings). Absent or empty keys
/// mean an unencrypted download: `Ok(None)`.
///
/// An image key that does not decode falls back to the media key, as a present key is
/// better than none; when there is no media key to fall back to it is an error rather
/// than a silent plain download, which would hand ciphertext to the agent.
pub fn parse_media_key(
    image_aeskey_hex: Option<&str>,
    media_aes_key_b64: Option<&str>,
) -> Result<Option<[u8; 16]>, CryptoError> {
    let image = image_aeskey_hex.map(str::trim).filter(|s| !s.is_empty());
    let media = media_aes_key_b64.map(str::trim).filter(|s| !s.is_empty());
    if let Some(key) = image.and_then(hex_key) {
        return Ok(Some(key));
    }
    match (media, image) {
        (Some(m), _) => media_key(m).map(Some).ok_or(CryptoError::MediaKey),
        (None, Some(_)) => Err(CryptoError::ImageKey),
        (None, None) => Ok(None),
    }
}

/// The key as lowercase hex (32 characters): `getuploadurl`'s `aeskey`.
pub fn key_hex(key: &[u8; 16]) -> String {
    hex::encode(key)
}

/// The key as the outbound message carries it in `media.aes_key`: base64 of the ASCII hex
/// string (44 characters). Base64 of the raw bytes makes images render as grey boxes.
pub fn encode_media_key(key: &[u8; 16]) -> String {
    STANDARD.encode(key_hex(key))
}

/// A fresh random AES-128 key for one upload.
pub fn new_key() -> [u8; 16] {
    rand::random()
}

/// A fresh `filekey` for `getuploadurl`: 16 random bytes as 32 lowercase hex characters.
pub fn new_filekey() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Lowercase hex MD5 of `bytes` (`rawfilemd5`, `video_md5`).
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIPS_KEY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn fips_197_appendix_c1_block() {
        let plain = unhex("00112233445566778899aabbccddeeff");
        let out = encrypt(&FIPS_KEY, &plain);
        assert_eq!(out.len(), 32);
        assert_eq!(hex::encode(&out[..16]), "69c4e0d86a7b0430d8cdb78070b4c55a");
        // The second block is a full block of padding (0x10 × 16), as `openssl enc
        // -aes-128-ecb` produces for the same key and input.
        assert_eq!(hex::encode(&out[16..]), "954f64f2e4e86e9eee82d20216684899");
        assert_eq!(decrypt(&FIPS_KEY, &out).unwrap(), plain);
    }

    #[test]
    fn empty_input_is_one_block_of_padding() {
        let out = encrypt(&FIPS_KEY, b"");
        assert_eq!(hex::encode(&out), "954f64f2e4e86e9eee82d20216684899");
        assert_eq!(decrypt(&FIPS_KEY, &out).unwrap(), b"");
    }

    #[test]
    fn short_input_matches_openssl() {
        // printf hello | openssl enc -aes-128-ecb -K 000102030405060708090a0b0c0d0e0f
        assert_eq!(hex::encode(encrypt(&FIPS_KEY, b"hello")), "5d8749e2af7531b2bf6661e9e5daf012");
    }

    #[test]
    fn round_trips_every_length_around_block_edges() {
        let key = new_key();
        for len in 0..=49 {
            let plain: Vec<u8> = (0..len as u8).collect();
            let out = encrypt(&key, &plain);
            assert_eq!(out.len() as u64, padded_size(len as u64), "len {len}");
            assert!(out.len() > plain.len() && out.len() <= plain.len() + 16);
            assert_eq!(decrypt(&key, &out).unwrap(), plain, "len {len}");
        }
    }

    #[test]
    fn ecb_encrypts_equal_blocks_equally() {
        let out = encrypt(&FIPS_KEY, &[7u8; 32]);
        assert_eq!(out[..16], out[16..32]);
    }

    #[test]
    fn padded_size_matches_hermes_formula() {
        for raw in [0u64, 1, 15, 16, 17, 31, 32, 1000, 1 << 40] {
            assert_eq!(padded_size(raw), (raw + 1).div_ceil(16) * 16, "raw {raw}");
        }
        assert_eq!(padded_size(0), 16);
        assert_eq!(padded_size(16), 32);
        assert_eq!(padded_size(u64::MAX), u64::MAX);
    }

    #[test]
    fn wrong_lengths_are_refused() {
        for len in [0usize, 1, 15, 17, 31] {
            assert_eq!(decrypt(&FIPS_KEY, &vec![0u8; len]), Err(CryptoError::CipherLength { len }));
        }
    }

    /// Encrypts `last_block` raw (no padding added), so its padding bytes are whatever we say.
    fn raw_block(last_block: [u8; 16]) -> Vec<u8> {
        let mut b = last_block;
        cipher(&FIPS_KEY).encrypt_block(GenericArray::from_mut_slice(&mut b));
        b.to_vec()
    }

    #[test]
    fn bad_padding_is_refused() {
        let mut zero = [0u8; 16];
        assert_eq!(decrypt(&FIPS_KEY, &raw_block(zero)), Err(CryptoError::BadPadding), "pad byte 0");
        zero[15] = 17;
        assert_eq!(decrypt(&FIPS_KEY, &raw_block(zero)), Err(CryptoError::BadPadding), "pad byte 17");
        let mut uneven = [3u8; 16];
        uneven[13] = 2;
        assert_eq!(decrypt(&FIPS_KEY, &raw_block(uneven)), Err(CryptoError::BadPadding), "uneven pad");
        let mut ok = [0xAAu8; 16];
        ok[14] = 2;
        ok[15] = 2;
        assert_eq!(decrypt(&FIPS_KEY, &raw_block(ok)).unwrap(), vec![0xAA; 14]);
        assert_eq!(decrypt(&FIPS_KEY, &raw_block([16u8; 16])).unwrap(), b"");
    }

    #[test]
    fn wrong_key_fails_padding_check() {
        let out = encrypt(&FIPS_KEY, b"a photo of a cat, well, its bytes");
        let mut other = FIPS_KEY;
        other[0] ^= 1;
        // A wrong key yields random-looking bytes; valid padding by chance is about 1/256,
        // and this particular pair is known not to hit it.
        assert_eq!(decrypt(&other, &out), Err(CryptoError::BadPadding));
    }

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f";

    #[test]
    fn image_hex_key_is_preferred() {
        let got = parse_media_key(Some(KEY_HEX), Some(&STANDARD.encode([9u8; 16]))).unwrap();
        assert_eq!(got, Some(FIPS_KEY));
        assert_eq!(parse_media_key(Some("000102030405060708090A0B0C0D0E0F"), None).unwrap(), Some(FIPS_KEY));
        assert_eq!(parse_media_key(Some(" 000102030405060708090a0b0c0d0e0f\n"), None).unwrap(), Some(FIPS_KEY));
    }

    #[test]
    fn media_key_base64_of_raw_bytes() {
        let b64 = STANDARD.encode(FIPS_KEY);
        assert_eq!(b64.len(), 24);
        assert_eq!(parse_media_key(None, Some(&b64)).unwrap(), Some(FIPS_KEY));
        assert_eq!(parse_media_key(None, Some(b64.trim_end_matches('='))).unwrap(), Some(FIPS_KEY));
        let urlsafe = URL_SAFE.encode([0xFB; 16]);
        assert!(urlsafe.contains('-') || urlsafe.contains('_'));
        assert_eq!(parse_media_key(None, Some(&urlsafe)).unwrap(), Some([0xFB; 16]));
    }

    #[test]
    fn media_key_base64_of_hex_string_44_chars() {
        let b64 = STANDARD.encode(KEY_HEX);
        assert_eq!(b64.len(), 44);
        assert_eq!(b64, "MDAwMTAyMDMwNDA1MDYwNzA4MDkwYTBiMGMwZDBlMGY=");
        assert_eq!(parse_media_key(None, Some(&b64)).unwrap(), Some(FIPS_KEY));
        let upper = STANDARD.encode(KEY_HEX.to_uppercase());
        assert_eq!(parse_media_key(None, Some(&upper)).unwrap(), Some(FIPS_KEY));
    }

    #[test]
    fn media_key_bare_hex() {
        assert_eq!(parse_media_key(None, Some(KEY_HEX)).unwrap(), Some(FIPS_KEY));
        assert_eq!(parse_media_key(Some(""), Some(KEY_HEX)).unwrap(), Some(FIPS_KEY));
    }

    #[test]
    fn absent_keys_mean_plain() {
        assert_eq!(parse_media_key(None, None).unwrap(), None);
        assert_eq!(parse_media_key(Some(""), Some("  ")).unwrap(), None);
    }

    #[test]
    fn bad_keys_are_errors_without_key_text() {
        assert_eq!(parse_media_key(Some("xyz"), None), Err(CryptoError::ImageKey));
        assert_eq!(parse_media_key(Some(&KEY_HEX[..30]), None), Err(CryptoError::ImageKey));
        // A bad image key falls back to a good media key.
        assert_eq!(parse_media_key(Some("xyz"), Some(KEY_HEX)).unwrap(), Some(FIPS_KEY));
        for bad in [
            "not base64 at all!",
            &STANDARD.encode([1u8; 15]),
            &STANDARD.encode([1u8; 17]),
            // 32 bytes that are not hex digits.
            &STANDARD.encode([b'z'; 32]),
            &KEY_HEX[..31],
        ] {
            let err = parse_media_key(None, Some(bad)).unwrap_err();
            assert_eq!(err, CryptoError::MediaKey, "{bad}");
            assert!(!err.to_string().contains(bad));
        }
    }

    #[test]
    fn encode_media_key_is_base64_of_hex_and_parses_back() {
        assert_eq!(encode_media_key(&FIPS_KEY), "MDAwMTAyMDMwNDA1MDYwNzA4MDkwYTBiMGMwZDBlMGY=");
        assert_eq!(key_hex(&FIPS_KEY), KEY_HEX);
        let key = new_key();
        assert_eq!(parse_media_key(None, Some(&encode_media_key(&key))).unwrap(), Some(key));
        assert_eq!(parse_media_key(Some(&key_hex(&key)), None).unwrap(), Some(key));
    }

    #[test]
    fn random_values_have_the_right_shape() {
        let (a, b) = (new_key(), new_key());
        assert_ne!(a, b, "two random keys collide with probability 2^-128");
        let fk = new_filekey();
        assert_eq!(fk.len(), 32);
        assert!(fk.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_ne!(fk, new_filekey());
    }

    #[test]
    fn md5_known_answers() {
        // RFC 1321 test suite.
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(md5_hex(b"message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
    }
}
