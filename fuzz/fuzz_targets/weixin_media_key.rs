//! Arbitrary media keys and ciphertext, as they arrive in a WeChat message
//! (`image_item.aeskey`, `media.aes_key`) and from the CDN: `parse_media_key`, then
//! `decrypt` with whatever key it yields (and with a fixed key, so decryption is fuzzed
//! even when the key text is garbage).
//!
//! Beyond "never panics", it checks that a successful decryption re-encrypts to the same
//! ciphertext (valid PKCS#7 padding is canonical), and that every parsed key survives the
//! encoding we send (`encode_media_key`) and its hex form.
//!
//! Input layout: byte 0 and byte 1 are the lengths (mod 64) of the image key and the media
//! key texts that follow; the rest is the ciphertext. Seeds are in
//! `fuzz/seeds/weixin_media_key`:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none weixin_media_key corpus/weixin_media_key seeds/weixin_media_key`

#![no_main]

use herald_platforms::weixin::crypto::{decrypt, encode_media_key, encrypt, key_hex, parse_media_key};
use libfuzzer_sys::fuzz_target;

fn check_decrypt(key: &[u8; 16], cipher: &[u8]) {
    if let Ok(plain) = decrypt(key, cipher) {
        assert!(plain.len() < cipher.len() && cipher.len() - plain.len() <= 16);
        assert_eq!(encrypt(key, &plain), cipher, "decrypt then encrypt round-trips");
    }
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else { return };
    let image_len = usize::from(*a % 64).min(rest.len());
    let (image, rest) = rest.split_at(image_len);
    let media_len = usize::from(*b % 64).min(rest.len());
    let (media, cipher) = rest.split_at(media_len);
    let image = String::from_utf8_lossy(image);
    let media = String::from_utf8_lossy(media);
    let image = (!image.is_empty()).then_some(image.as_ref());
    let media = (!media.is_empty()).then_some(media.as_ref());

    if let Ok(Some(key)) = parse_media_key(image, media) {
        assert_eq!(parse_media_key(None, Some(&encode_media_key(&key))), Ok(Some(key)));
        assert_eq!(parse_media_key(Some(&key_hex(&key)), None), Ok(Some(key)));
        check_decrypt(&key, cipher);
    }
    check_decrypt(&[0x42; 16], cipher);
});
