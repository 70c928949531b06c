#![allow(clippy::unwrap_used)]
use super::*;
use std::fs::OpenOptions;

fn list(record: u64) -> BookmarkList {
    let mut list = BookmarkList::new();
    list.advance("Application", record);
    list
}

fn position(path: &Path) -> Option<u64> {
    read_cursor(path).unwrap().unwrap().position("Application")
}

/// Written into a directory made for it, then in place: every write reads back, the file
/// stays two slots long and no temporary file is left beside it.
#[test]
fn each_write_reads_back_from_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cursors/forwarder.bookmark");
    let mut cursor = CursorFile::open(&path);
    for record in 1..=5 {
        cursor.write(&list(record)).unwrap();
        assert_eq!(position(&path), Some(record));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * SLOT as u64);
    }
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["forwarder.bookmark"]);
    // A writer opened on the file goes on from its newest slot.
    let mut again = CursorFile::open(&path);
    again.write(&list(6)).unwrap();
    assert_eq!(position(&path), Some(6));
}

/// A write torn by a crash (the slot it was writing half new, half old) reads as the
/// position before it: the other slot, written whole before it began.
#[test]
fn a_torn_write_reads_as_the_position_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forwarder.bookmark");
    let mut cursor = CursorFile::open(&path);
    cursor.write(&list(7)).unwrap();
    cursor.write(&list(8)).unwrap();
    // The slot the next write goes to, written only in part: its first half.
    let next = slot(cursor.newest.unwrap() + 1, &list(9).to_xml());
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    let offset = slot_offset(cursor.newest.unwrap() + 1);
    file.write_all_at(&next[..SLOT / 2], offset).unwrap();
    assert_eq!(
        position(&path),
        Some(9),
        "the header and text fit in the half"
    );
    // Torn inside the text: the checksum no longer matches.
    let mut torn = next.clone();
    torn[HEADER + 3] ^= 0x20;
    file.write_all_at(&torn, offset).unwrap();
    assert_eq!(position(&path), Some(8));
    // Both torn: no position is made up.
    let other = slot_offset(cursor.newest.unwrap());
    file.write_all_at(&torn, other).unwrap();
    assert!(read_cursor(&path).is_err());
}

/// The text file of earlier versions is read, and replaced whole by the first write.
#[test]
fn an_older_text_cursor_is_read_and_converted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forwarder.bookmark");
    std::fs::write(&path, list(3).to_xml()).unwrap();
    assert_eq!(position(&path), Some(3));
    let mut cursor = CursorFile::open(&path);
    assert_eq!(cursor.newest, None);
    cursor.write(&list(4)).unwrap();
    assert_eq!(position(&path), Some(4));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * SLOT as u64);
}

/// A position too long for a slot is written as text, whole, and read back; the next one
/// that fits goes into slots again.
#[test]
fn a_position_too_long_for_a_slot_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forwarder.bookmark");
    let mut long = BookmarkList::new();
    for n in 0..200 {
        long.advance(&format!("Channel-{n:04}"), n);
    }
    assert!(long.to_xml().len() > SLOT - HEADER);
    let mut cursor = CursorFile::open(&path);
    cursor.write(&list(1)).unwrap();
    cursor.write(&long).unwrap();
    let read = read_cursor(&path).unwrap().unwrap();
    assert_eq!(read.position("Channel-0199"), Some(199));
    cursor.write(&list(2)).unwrap();
    assert_eq!(position(&path), Some(2));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * SLOT as u64);
}

/// A link put where the cursor file was is not written through: the in-place write is refused,
/// the file it points to keeps its bytes, and the next write replaces the link itself.
#[test]
fn a_link_in_the_cursors_place_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    CursorFile::open(&target).write(&list(7)).unwrap();
    let before = std::fs::read(&target).unwrap();
    let path = dir.path().join("forwarder.bookmark");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let mut cursor = CursorFile::open(&path);
    assert!(cursor.write(&list(8)).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), before);
    cursor.write(&list(9)).unwrap();
    assert!(!std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(position(&path), Some(9));
    assert_eq!(std::fs::read(&target).unwrap(), before);
}
