"""Data files only: the packaged default classifier, its data card and its training features."""
