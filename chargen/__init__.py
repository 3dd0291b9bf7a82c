"""chargen: character-level RNN language models you train on any text and sample in the terminal.

Importing the package is cheap (no torch); the modules that need torch import it themselves.
"""

__version__ = "0.1.0"
