"""Fake settings for hardnut's detect-secrets baseline test: every value is random, none is real."""

DB_PASSWORD = "WiL9dv4wtfUQ1VQ3OZRkt4aQ"  # audited in .secrets.baseline as a false positive
API_TOKEN = "ng5VP2pv9O5yqeZ1LGKN9bemzYumle29"  # audited as a real secret (is_secret: true)
SERVICE_PASSWORD = "nmwYfq483XZZLT2trKieN4QrCIu1"  # in the baseline, not audited
FIXTURE_TOKEN = "isc4UxdJDJmATl4GjUQg1AoeaSYeUX"  # hardnut-fixture: the line is excluded (--exclude-lines)
WEBHOOK_SECRET = "whseczENOjqnMD8v0OmeHs4Wmld0Wpix"  # excluded by value (--exclude-secrets ^whsec)
