import numpy as np
import pytest

from chargen.errors import ChargenError
from chargen.data.vocab import Vocab


def test_round_trip_of_unicode_text():
    text = "Héllo, wörld! 你好 🙂\n"
    vocab = Vocab.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert vocab.chars == "".join(sorted(set(text)))  # code points, sorted: '🙂' is one character


def test_ids_use_the_smallest_dtype():
    assert Vocab.from_text("abc").dtype == np.uint8
    assert Vocab("".join(map(chr, range(300)))).dtype == np.uint16
    assert Vocab("".join(map(chr, range(70_000)))).dtype == np.int32


def test_unknown_characters_are_named_in_the_error():
    vocab = Vocab.from_text("abc")
    assert vocab.unknown("abxyz") == ["x", "y", "z"]
    with pytest.raises(ChargenError, match=r"3 characters: 'x' \(U\+0078\)"):
        vocab.encode("axyz")


def test_code_point_table_maps_every_character_to_its_id():
    vocab = Vocab.from_text("zé\na")
    table = vocab.code_point_table()
    assert [table[ord(ch)] for ch in vocab.chars] == list(range(vocab.size))
    assert table[ord("b")] == -1


def test_unsorted_or_repeated_characters_are_rejected():
    with pytest.raises(ValueError):
        Vocab("ba")
    with pytest.raises(ValueError):
        Vocab("aab")
