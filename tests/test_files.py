from chargen.store.files import remove_orphans, write_text_atomically


def test_orphaned_temporary_files_are_removed(tmp_path):
    (tmp_path / ".latest.pt.tmp-12345").write_bytes(b"partial")
    (tmp_path / "latest.pt").write_bytes(b"keep")
    removed = remove_orphans(tmp_path)
    assert [p.name for p in removed] == [".latest.pt.tmp-12345"]
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]


def test_an_atomic_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("old")
    write_text_atomically(path, "new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["config.json"]
