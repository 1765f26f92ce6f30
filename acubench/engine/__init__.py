"""The engine: extraction, the packed embedding store, probes, runs and their folders.

Services over the ground modules of ``acubench/``; nothing here is imported by a plugin.
"""
