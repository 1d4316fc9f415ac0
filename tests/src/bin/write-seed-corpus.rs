//! Writes the golden vectors into a directory as the fuzzers' seed corpus.
//! Each file starts with the version byte the fuzz targets read first
//! (bit 0: 0 = 3.1.1, 1 = 5.0; 6 = 3.1); `decode_stream` also reads two
//! limit bytes.

use std::path::PathBuf;

use mqtt_core::codec::ProtocolVersion;
use mqtt_tests::golden::GOLDEN;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus/seed".into()),
    );
    std::fs::create_dir_all(&dir)?;
    for g in GOLDEN {
        let v = match g.version {
            ProtocolVersion::V311 => 0,
            ProtocolVersion::V5 => 1,
            ProtocolVersion::V31 => 6,
        };
        // [version][limit hi][limit lo] + packet: usable by both targets.
        let mut data = vec![v, 0xFF, 0xFF];
        data.extend(g.bytes());
        std::fs::write(dir.join(g.name), data)?;
    }
    println!("wrote {} seed files to {}", GOLDEN.len(), dir.display());
    Ok(())
}
