"""Drawing for Fireline's charts: hand-written SVG that works in the admin and in a WeasyPrint PDF.

A bottom layer: it imports Django's escaping and nothing from the apps, so audit, command and drills
all draw with it.
"""
