//! AES-128-ECB with PKCS#7, as the WeChat CDN stores media. Written here rather than
//! taken from herald-platforms so the fake and the adapter cannot share a bug.

use aes::Aes128;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};

const BLOCK: usize = 16;

/// The ciphertext size of `raw` plaintext bytes: PKCS#7 always adds 1..=16 bytes.
pub fn padded_size(raw: u64) -> u64 {
    (raw / BLOCK as u64 + 1) * BLOCK as u64
}

pub fn encrypt(key: &[u8; 16], plain: &[u8]) -> Vec<u8> {
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let pad = BLOCK - plain.len() % BLOCK;
    let mut out = Vec::with_capacity(plain.len() + pad);
    out.extend_from_slice(plain);
    out.extend(std::iter::repeat_n(pad as u8, pad));
    for block in out.chunks_exact_mut(BLOCK) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    out
}

/// Why a ciphertext does not decrypt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("the ciphertext is {0} bytes, not a positive multiple of 16")]
    Length(usize),
    #[error("the PKCS#7 padding is invalid (wrong key?)")]
    Padding,
}

pub fn decrypt(key: &[u8; 16], cipher_text: &[u8]) -> Result<Vec<u8>, DecryptError> {
    if cipher_text.is_empty() || !cipher_text.len().is_multiple_of(BLOCK) {
        return Err(DecryptError::Length(cipher_text.len()));
    }
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let mut out = cipher_text.to_vec();
    for block in out.chunks_exact_mut(BLOCK) {
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
    }
    let pad = usize::from(out[out.len() - 1]);
    if pad == 0 || pad > BLOCK || !out[out.len() - pad..].iter().all(|&b| usize::from(b) == pad) {
        return Err(DecryptError::Padding);
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(bytes))
}

pub fn random_key() -> [u8; 16] {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_padding_length() {
        let key = [7u8; 16];
        for len in 0..40 {
            let plain: Vec<u8> = (0..len as u8).collect();
            let c = encrypt(&key, &plain);
            assert_eq!(c.len() as u64, padded_size(len as u64));
            assert_eq!(decrypt(&key, &c).unwrap(), plain);
        }
    }

    #[test]
    fn matches_the_fips_197_vector() {
        // FIPS-197 appendix C.1 key and block; ECB of one block is the raw cipher.
        let key: [u8; 16] = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap().try_into().unwrap();
        let plain = hex::decode("00112233445566778899aabbccddeeff").unwrap();
        let c = encrypt(&key, &plain);
        assert_eq!(hex::encode(&c[..16]), "69c4e0d86a7b0430d8cdb78070b4c55a");
    }

    #[test]
    fn a_wrong_key_or_length_is_an_error() {
        let c = encrypt(&[1; 16], b"hello world");
        assert!(decrypt(&[2; 16], &c).is_err());
        assert_eq!(decrypt(&[1; 16], &c[..15]), Err(DecryptError::Length(15)));
        assert_eq!(decrypt(&[1; 16], &[]), Err(DecryptError::Length(0)));
    }

    #[test]
    fn md5_is_hex() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
