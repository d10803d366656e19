"""Core of the exposed sample: this module docstring is readable in a build without no_docstrings."""

GREETING = "Greetings from the exposed core, version one"
CONFIG_PATH = "/etc/exposed/config.toml"


class Greeter:
    """Formats greetings; the class docstring is a constant too."""

    def __init__(self, word: str) -> None:
        assert word, "the greeting word must not be empty"
        self.word = word

    def format(self, name: str) -> str:
        """Return the greeting for `name`."""
        return f"{self.word}, {name}!"


def greet(name: str) -> str:
    """Greet `name` with the module's greeting."""
    assert isinstance(name, str), "greet() wants a str name"
    return Greeter(GREETING).format(name)
