//! Drawing a login QR: for a terminal (two modules per character cell) and as a PNG
//! (for the API and for terminals that cannot show the block characters).

use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, QrCode};

/// Pixels per QR module in the PNG, and the quiet zone in modules.
const SCALE: usize = 8;
const QUIET: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("the login link cannot be drawn as a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("cannot encode the QR image: {0}")]
    Png(#[from] png::EncodingError),
}

/// The QR as text. Light on dark terminals reads fine as long as the quiet zone is
/// drawn, so both colours are explicit.
pub fn terminal(link: &str) -> Result<String, QrError> {
    let code = QrCode::new(link.as_bytes())?;
    Ok(code.render::<Dense1x2>().dark_color(Dense1x2::Dark).light_color(Dense1x2::Light).quiet_zone(true).build())
}

/// The QR as a grayscale PNG.
pub fn png(link: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::new(link.as_bytes())?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % width + QUIET, i / width + QUIET);
        for y in my * SCALE..(my + 1) * SCALE {
            pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_decodes_to_the_modules_of_the_code() {
        let link = "https://liteapp.weixin.qq.com/q/abc?qrcode=123&bot_type=3";
        let bytes = png(link).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let code = QrCode::new(link.as_bytes()).unwrap();
        let side = (code.width() + 2 * QUIET) * SCALE;
        assert_eq!((info.width as usize, info.height as usize), (side, side));
        // Sample the centre of every module and compare with the code.
        for (i, color) in code.to_colors().iter().enumerate() {
            let (mx, my) = (i % code.width() + QUIET, i / code.width() + QUIET);
            let px = buf[(my * SCALE + SCALE / 2) * side + mx * SCALE + SCALE / 2];
            assert_eq!(px == 0, *color == Color::Dark, "module {i}");
        }
        assert!(terminal(link).unwrap().lines().count() > code.width() / 2);
    }
}
