//! The one palette every chart of the report draws with.

use plotters::style::{Color, Palette, Palette99, RGBColor};

/// Distinct, colour-blind-friendly line colours (Okabe–Ito), then plotters' palette.
pub fn colour(i: usize) -> RGBColor {
    const OKABE_ITO: [(u8, u8, u8); 7] = [
        (0, 114, 178),
        (213, 94, 0),
        (0, 158, 115),
        (204, 121, 167),
        (230, 159, 0),
        (86, 180, 233),
        (0, 0, 0),
    ];
    match OKABE_ITO.get(i) {
        Some(&(r, g, b)) => RGBColor(r, g, b),
        None => {
            let c = Palette99::pick(i).to_rgba();
            RGBColor(c.0, c.1, c.2)
        }
    }
}
