"""The bundled corpora, installed as `chargen.corpora` so that importlib.resources finds them in any install."""
