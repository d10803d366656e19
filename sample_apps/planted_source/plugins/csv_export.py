"""A plugin that app.load_plugin finds by name at run time."""
NAME = "csv"
