from app.util.strings import shout


def greet(name: str) -> str:
    return shout(f"hello {name}", 2)
