"""Everything about driving Nuitka: the command line (pure), running it, and reading its report."""
