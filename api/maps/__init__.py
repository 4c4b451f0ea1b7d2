"""Maps: the tile provider behind our own address, and what the apps need to draw and keep tiles."""
