"""Operating-system integration without Qt: folders, logging, settings files, the secret store."""
