"""Errors that carry a message meant for a person: the CLI prints them as one line (exit 2)
and the dashboard shows them in the page, never as a traceback."""


class GanAppError(Exception):
    """Base of every error whose text is written for the user."""


class UsageError(GanAppError, ValueError):
    """A wrong argument or setting: says what was wrong and what is accepted."""


class DatasetError(GanAppError):
    """A dataset that cannot be loaded: unknown, offline, or a file of the wrong shape."""


class ImageInputError(GanAppError):
    """An image a person brought (a drawing, an upload) that cannot be used: says why."""
