"""Training-only names the config files touch: every attribute, call and assignment is accepted and ignored."""


class Sink:
    def __init__(self, *args, **kwargs) -> None:
        pass

    def __getattr__(self, name: str) -> "Sink":
        if name.startswith("__"):
            raise AttributeError(name)
        return Sink()

    def __call__(self, *args, **kwargs) -> "Sink":
        return Sink()
