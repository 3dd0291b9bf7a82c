import numpy as np
import pytest

from chargen.data.corpus import load_corpus, read_text
from chargen.errors import ChargenError

from conftest import TINYSHAKESPEARE


def phases_of(paths, **kw):
    seen = []
    corpus = load_corpus(paths, progress=lambda phase, done, total: seen.append(phase), **kw)
    return corpus, set(seen)


def test_encodes_code_points_and_drops_a_leading_bom(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffnaïve café ☕\n".encode("utf-8"))
    corpus = load_corpus([path])
    assert corpus.vocab.decode(corpus.ids) == "naïve café ☕\n"
    assert corpus.ids.dtype == np.uint8


def test_second_load_uses_the_cache_and_skips_encoding(corpus_file):
    first, phases = phases_of([corpus_file])
    assert "encoding" in phases
    second, phases = phases_of([corpus_file])
    assert phases == {"hashing"}
    assert isinstance(second.ids, np.memmap)
    assert np.array_equal(first.ids, second.ids) and first.sha256 == second.sha256


def test_a_changed_file_is_encoded_again(corpus_file):
    first = load_corpus([corpus_file])
    corpus_file.write_text("something else entirely\n")
    second = load_corpus([corpus_file])
    assert second.sha256 != first.sha256
    assert second.vocab.decode(second.ids) == "something else entirely\n"


def test_a_folder_means_its_txt_files_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("second ")
    (tmp_path / "a.txt").write_text("first ")
    (tmp_path / "notes.md").write_text("ignored")
    corpus = load_corpus([tmp_path])
    assert corpus.vocab.decode(corpus.ids) == "first second "


def test_encoding_with_a_given_vocabulary_keeps_its_ids(corpus_file):
    own = load_corpus([corpus_file])
    wider = type(own.vocab)("".join(sorted(set(own.vocab.chars) | set("#$%"))))
    corpus = load_corpus([corpus_file], vocab=wider)
    assert corpus.vocab == wider
    assert wider.decode(corpus.ids) == own.vocab.decode(own.ids)


def test_split_is_contiguous_with_validation_last(corpus_file):
    corpus = load_corpus([corpus_file])
    train, val = corpus.split(0.1)
    assert len(train) + len(val) == len(corpus)
    assert np.array_equal(np.concatenate([train, val]), corpus.ids)


@pytest.mark.skipif(not TINYSHAKESPEARE.is_file(), reason="needs ../shared/corpora/tinyshakespeare.txt")
def test_tinyshakespeare_gets_the_standard_split():
    corpus = load_corpus([TINYSHAKESPEARE])
    train, val = corpus.split(0.1)
    assert (len(train), len(val), corpus.vocab.size) == (1_003_854, 111_540, 65)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        (b"good line\nbad \xff byte\n", r"not valid utf-8 \(byte 0xff at line 2, byte offset 14\); pass --encoding"),
        (b"ends mid character \xc3", "ends in the middle of a character"),
    ],
)
def test_bad_files_get_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ChargenError, match=message):
        load_corpus([path])


def test_latin1_text_reads_with_an_explicit_encoding(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café".encode("latin-1"))
    with pytest.raises(ChargenError, match="--encoding"):
        load_corpus([path])
    assert load_corpus([path], encoding="latin-1").vocab.decode(load_corpus([path], encoding="latin-1").ids) == "café"


def test_missing_paths_empty_folders_and_unknown_encodings(tmp_path):
    with pytest.raises(ChargenError, match="does not exist"):
        load_corpus([tmp_path / "nope.txt"])
    with pytest.raises(ChargenError, match="no \\*.txt files"):
        load_corpus([tmp_path])
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ChargenError, match="unknown text encoding"):
        load_corpus([tmp_path / "a.txt"], encoding="klingon")


def test_too_many_distinct_characters_is_refused(tmp_path):
    path = tmp_path / "wide.txt"
    path.write_text("".join(map(chr, range(0x4E00, 0x4E00 + 500))))
    with pytest.raises(ChargenError, match="500 distinct characters, more than --max-vocab 100"):
        load_corpus([path], max_vocab=100)


def test_read_text_checks_like_a_corpus(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xefok")
    with pytest.raises(ChargenError, match="not valid utf-8"):
        read_text(path)
