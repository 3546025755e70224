//! What only Matroska and WebM files have, as mkvmerge and mkvinfo read them.

use movie_writer_av1_core::Container;

use super::{Expected, Report, PCM};

/// mkvmerge's and mkvinfo's view: DocType, codec IDs, display size and PixelCrop.
pub(super) fn matroska_problems(r: &Report, e: &Expected, audio_codec: &str, check: &mut dyn FnMut(bool, String)) {
    let mkv = &r.mkv;
    check(
        mkv.recognized && mkv.supported,
        format!("mkvmerge: recognized {}, supported {}", mkv.recognized, mkv.supported),
    );
    check(
        mkv.errors.is_empty() && mkv.warnings.is_empty() && mkv.exit_code == Some(0),
        format!(
            "mkvmerge exit {:?}, errors {:?}, warnings {:?}",
            mkv.exit_code, mkv.errors, mkv.warnings
        ),
    );
    if let Some(container) = Container::from_path(&r.path) {
        check(
            Some(mkv.doc_type.as_str()) == container.doc_type(),
            format!("DocType {:?}, want {:?}", mkv.doc_type, container.doc_type()),
        );
    }
    let audio_id = match audio_codec {
        "aac" => "A_AAC",
        PCM => "A_PCM/FLOAT/IEEE",
        _ => "A_OPUS",
    };
    check(
        mkv.codec_ids == ["V_AV1", audio_id],
        format!("codec IDs {:?}, want V_AV1 then {audio_id}", mkv.codec_ids),
    );
    check(
        mkv.display_size == Some((e.width, e.height)),
        format!("display size {:?}, want {}x{}", mkv.display_size, e.width, e.height),
    );
    check(
        mkv.cropped_size() == Some((e.width, e.height)),
        format!(
            "pixel size {:?} minus crop {:?} is {:?}, want {}x{}",
            mkv.pixel_size,
            mkv.crop,
            mkv.cropped_size(),
            e.width,
            e.height
        ),
    );
    if let Some(v) = r.probe.video.first() {
        check(
            mkv.pixel_size == Some((v.width, v.height)),
            format!(
                "Matroska pixel size {:?} differs from the AV1 stream's {}x{}",
                mkv.pixel_size, v.width, v.height
            ),
        );
    }
}
