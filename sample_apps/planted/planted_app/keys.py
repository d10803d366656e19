"""Key material of the planted sample (FAKE: random bytes in PEM clothing)."""

SIGNING_KEY = """-----BEGIN RSA PRIVATE KEY-----
MIIBOi9mh33fQgJ/eEJZwj20dT0PnS7L8NF79f1Nl+5b0WWNLxV1GYDgMEuMltSo
EqEFkqZaTgKPYie+q656CsEc1JbU2245A7/jC5F67aWkCScmzS3OEwJRzJifcBTr
h0hAbZX8ExzVRSePSmwuKrdTv812HMbY1sT5x8j6Pyrbfna3mE6kXqm7dTwncUDK
AzOpceS4x95QcDK9i9E2woGmG/l4h3xnLTwdIEOQQHI7C8ftIiq3GlwIN3L0KKSv
xU79nFtLGT+AF+scyzL7p+Pf5x7puJwUkUmxwou+vwV4nWqIHd4fFmwJzJW8E5qp
fBVRfrzlq+ahLBuoktDc8hvO5/Ihv/+F7O4+2dLA/aFY/wLHf8ri0t5Y0zLaOEk0
V9R1Nyty96SS9AeSTyAh2mupO2MxvplTHxQ=
-----END RSA PRIVATE KEY-----
"""

DEPLOY_KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ1sTDK2MljLQqd/4SZ0j9ySBa7H54
DihM1FlkVaxMcIpqfRrv9G+TCVXnsJpCNEF6nw218N3vl0Ie+tXlZvfJumAmkdrO9YysO0
atDglJwufvUS4PGLfonhE5SzawhwmAMqB2U3HhSny6A2HX2QPPgqNJVceGg2NZRbA34zxo
bBOLxAwJFCdsxZrESitFKBUHstzSbMo3qRt2oy8xVvhtQP9hJ9gQy6vbl8MkL8Z8r+YDd1
gZWWOgDFt0uSTf4YPhQoyM8Sp8GtCoy0Wsh4PyK4UMTPT1fbqs8UBwPJB5IqUOGdy/oluu
o5Zrr9dtJrDQbJkZzpr/Pmvn8=
-----END OPENSSH PRIVATE KEY-----
"""

PUTTY_KEY = """PuTTY-User-Key-File-3: ssh-ed25519
Encryption: none
Comment: planted-fake-key
Public-Lines: 2
CUVjrKL6j8LTctc6qQMNeVrkDszKvvAi7fUBmCje+uqQ/tDLZxidOM+1K/S/8A18
L8uj
Private-Lines: 1
/JpWgQOSL8toNKgdRspt4v4JO2kRPayqpbWf0erfyWOQldhxvkTFP/n8S6ZuAsm1
Private-MAC: 3e70401fda15f205a68e9cfb5f96d7fbec0f52a7c8d5845aa01600080d9c5e60
"""
