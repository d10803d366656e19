"""exposed_app: the package whose strings `hardnut exposure` shows."""
