"""wild-ci: the hands of an AI research agent — runs its experiments on CI runners and reports back."""

__version__ = "0.1.0"
