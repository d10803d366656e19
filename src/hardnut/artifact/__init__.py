"""Turn a verify target (a dist folder, a onefile binary, a single file) into a list of files."""
