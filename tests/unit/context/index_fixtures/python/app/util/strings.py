"""String helpers."""


def shout(text: str, times: int = 1) -> str:
    """Upper-case ``text`` and add ``times`` exclamation marks."""
    return text.upper() + "!" * times


def whisper(text: str) -> str:
    return text.lower()
