"""The two read paths: training sets (offline, point in time) and online features.

May import plan, sql, engines, registry and online; never the CLI or the server.
"""
