"""Planted-secrets sample package for hardnut's secret scanner.

EVERY credential in this package is FAKE: random text shaped like a real
token, never issued by any provider. Service token for the demo dashboard:
eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwbGFudGVkLWZha2UtbW9kIiwiaWF0IjoxNzAwNDk5MjY4fQ.kQ3uwUioWK5xJO_7_e_cd721CthnPzQNycQMVKorf8c
"""

VERSION = "1.0"
