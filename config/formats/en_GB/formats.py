from config.formats.en.formats import *  # noqa: F403 (the same format for British English)
