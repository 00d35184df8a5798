"""The live demo (the README's main command) and the example stores it writes."""
