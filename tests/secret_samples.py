"""hardnut's own secret corpus: for EVERY secret rule, true positives (the rule must report them)
and near-miss negatives (the rule must not), all FAKE and generated at run time from a seed.

Used by tests/test_secrets_corpus.py (each rule, planted as text, UTF-16LE and compiled constants),
by tests/test_secrets_engine.py (hyperscan / re parity) and by
`python scripts/secrets_recall.py --own` (per-rule recall and false positives).
Nothing here is a real credential: bodies are random, and known documentation values are used
only as negatives.
"""

from __future__ import annotations

import string

from helpers_secrets import ALNUM, Fakes

HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + string.digits
LOWER_DIGITS = string.ascii_lowercase + string.digits
URLSAFE = ALNUM + "_-"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l".upper()


def samples(seed: int = 5) -> list[tuple[str, str, str]]:
    """(rule id, "tp" | "fp", text) for every secret rule."""
    f = Fakes(seed)
    t = f.text
    uuid = "-".join(t(n, HEX) for n in (8, 4, 4, 4, 12))
    gh = f.github()
    u = Fakes(seed + 101).text  # own stream for the false-positive classes added later: the others keep their values
    v = Fakes(seed + 202).text  # own stream for the provider-format samples
    rows: list[tuple[str, str, str]] = []

    def tp(rule: str, *texts: str) -> None:
        rows.extend((rule, "tp", x) for x in texts)

    def fp(rule: str, *texts: str) -> None:
        rows.extend((rule, "fp", x) for x in texts)

    tp("HN-SEC-001", f"aws_access_key_id = {f.aws_id()}", f"\x00a{f.aws_id()}\x00")
    fp("HN-SEC-001", "AKIAIOSFODNN7EXAMPLE", "xAKIA" + t(16, "ABCDEFGH234567"), "AKIA" + "A" * 16)
    tp("HN-SEC-002", f"aws_secret_access_key = {f.b64(30)}", f'"SecretAccessKey": "{f.b64(30)}"')
    fp("HN-SEC-002", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    tp("HN-SEC-003", f"token={gh}\n", f.github("ghs_"), f.github("gho_"))
    fp("HN-SEC-003", "_ZN5highs_" + t(36) + "E", "ghp_" + "x" * 36, "ghp_" + t(35))
    tp("HN-SEC-004", "github_pat_" + t(22) + "_" + t(59))
    fp("HN-SEC-004", "github_pat_" + t(30))
    tp("HN-SEC-005", "glpat-" + t(20, URLSAFE), "glpat-" + t(27) + ".01." + t(9, LOWER_DIGITS))
    fp("HN-SEC-005", "glpat-short", "glpat-my_token_goes_here_please")
    tp("HN-SEC-006", "xoxb-" + t(12, string.digits) + "-" + t(13, string.digits) + "-" + t(24),
       "xapp-1-A" + t(10, UPPER_DIGITS) + "-" + t(13, string.digits) + "-" + t(64, HEX))
    fp("HN-SEC-006", "xoxb-not-a-token", "xoxe.xoxp-1-RANDOMSTRINGHERE")
    tp("HN-SEC-007", "https://hooks.slack.com/services/T" + t(10, UPPER_DIGITS) + "/B" + t(10, UPPER_DIGITS) + "/" + t(24))
    fp("HN-SEC-007", "https://hooks.slack.com/services/")
    tp("HN-SEC-008", "sk_live_" + t(40), "rk_live_" + t(60))
    fp("HN-SEC-008", "pk_live_" + t(40), "task_live_" + t(40))
    tp("HN-SEC-009", "AIza" + t(35, URLSAFE))
    fp("HN-SEC-009", "AIza" + t(20), f.b64(30) + "AIza" + t(35, URLSAFE))
    tp("HN-SEC-010", "sk-" + t(20) + "T3BlbkFJ" + t(20), "sk-proj-" + t(74, URLSAFE) + "T3BlbkFJ" + t(74, URLSAFE))
    fp("HN-SEC-010", "sk-" + t(48), "task-" + t(60))
    tp("HN-SEC-011", "sk-ant-api03-" + t(93, URLSAFE) + "AA", "sk-ant-admin01-" + t(93, URLSAFE) + "AA")
    fp("HN-SEC-011", "sk-ant-api03-abc123xyz-456def789ghij-klmnopqrstuvwxyz-" + "a" * 40 + "AA")
    azure = f.b64(64)
    tp("HN-SEC-012", f"DefaultEndpointsProtocol=https;AccountName=x;AccountKey={azure};EndpointSuffix=core.windows.net",
       f'AZURE_STORAGE_KEY="{f.b64(64)}"')
    fp("HN-SEC-012", "AccountKey=" + "A" * 86 + "==", "AccountKey=" + f.b64(63))
    npm = f.github("npm_")
    tp("HN-SEC-013", npm, f"//registry.npmjs.org/:_authToken={f.github('npm_')}")
    fp("HN-SEC-013", "npm_" + t(20), "snpm_" + t(36))
    tp("HN-SEC-014", "pypi-AgEIcHlwaS5vcmc" + f.b64url(70))
    fp("HN-SEC-014", "pypi-AgEnotatoken")
    tp("HN-SEC-015", "sid SK" + t(32, HEX) + " end")
    fp("HN-SEC-015", "xSK" + t(32, HEX))
    tp("HN-SEC-016", "SG." + t(22, URLSAFE) + "." + t(43, URLSAFE))
    fp("HN-SEC-016", "SG.short.short")
    tp("HN-SEC-017", f.jwt())
    fp("HN-SEC-017", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0", "eyJub3RqcyI6MX0.eyJzdWIiOiJ4In0." + f.b64url(32))
    tp("HN-SEC-018", f.pem("RSA"), f.pem(""), f.pem("OPENSSH", openssh=True), f.pem("EC").replace("\n", "\\n"))
    fp("HN-SEC-018", "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----\nanything\n-----END PRIVATE KEY-----",
       "-----BEGIN PUBLIC KEY-----\n" + f.pem_body() + "\n-----END PUBLIC KEY-----")
    tp("HN-SEC-019", "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: x\nPublic-Lines: 2\n" + f.b64(48)
       + "\n" + f.b64(3) + "\nPrivate-Lines: 1\n" + f.b64(48) + "\nPrivate-MAC: " + t(64, HEX) + "\n")
    fp("HN-SEC-019", "PuTTY-User-Key-File-3: ssh-ed25519\n")
    tp("HN-SEC-020", "postgresql://svc:Qx7" + t(12) + "@db.internal:5432/app", "amqp://app:" + t(8) + "#%!" + t(6) + "@mq.internal/")
    fp("HN-SEC-020", "postgresql://user:password@db.internal/app", "https://user:${DB_PASSWORD}@db.internal/app",
       "ftp://anonymous:%s@%s/", "mssql+pyodbc://scott:tiger@some_dsn",
       "mssql+pyodbc://scott:tiger^5HHH@mssql2017:1433/test?driver=ODBC+Driver+17+for+SQL+Server")
    tp("HN-SEC-020", "mssql+pyodbc://scott:" + t(12) + "@mssql2017:1433/test")  # only the demo password is one
    tp("HN-SEC-021", "glrt-" + t(20, URLSAFE), "glptt-" + t(40, HEX), "gloas-" + t(64, URLSAFE), "gldt-" + t(20, URLSAFE),
       "GR1348941" + t(20, URLSAFE))
    fp("HN-SEC-021", "glrt-short", "glimt-my-tokens_are-correctAB",
       "glptt-Need5_T00-be-exactly-40-chars--ELse_fail")  # trigger tokens are glptt- + 40 hex
    tp("HN-SEC-022", "shpat_" + t(32, HEX), "shpss_" + t(32, HEX))
    fp("HN-SEC-022", "shpat_" + t(31, HEX), "shpat_" + t(32, "ghijklmnop"), "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")
    tp("HN-SEC-023", "dop_v1_" + t(64, HEX))
    fp("HN-SEC-023", "dop_v1_" + t(63, HEX) + "g")
    tp("HN-SEC-024", "dapi" + t(32, HEX))
    fp("HN-SEC-024", "dapi" + t(20, HEX), "xdapi" + t(32, HEX))
    tp("HN-SEC-025", "dp.pt." + t(43))
    fp("HN-SEC-025", "dp.pt." + t(20))
    tp("HN-SEC-026", "dt0c01." + t(24, UPPER_DIGITS) + "." + t(64, UPPER_DIGITS))
    fp("HN-SEC-026", "dt0c01.short.token")
    tp("HN-SEC-027", "fo1_" + t(43, URLSAFE), "FlyV1 fm2_" + f.b64(120))
    fp("HN-SEC-027", "fo1_" + t(20))
    tp("HN-SEC-028", "glsa_" + t(32) + "_" + t(8, HEX), "glc_" + f.b64(60))
    fp("HN-SEC-028", "glsa_" + t(32) + "_" + t(8, "ghijkl"))
    tp("HN-SEC-029", "pat." + t(22, URLSAFE) + "." + t(24) + "." + t(20))
    fp("HN-SEC-029", "pat." + t(22) + ".short.x")
    tp("HN-SEC-030", "hvs." + t(100, URLSAFE), t(14) + ".atlasv1." + t(64, URLSAFE))
    fp("HN-SEC-030", "hvs." + t(30), "s.atlasv1.short")
    tp("HN-SEC-031", "hf_" + t(34, string.ascii_letters), "api_org_" + t(34, string.ascii_letters))
    fp("HN-SEC-031", "hf_" + t(20, string.ascii_letters), "hf_" + "a" * 34)
    tp("HN-SEC-032", "lin_api_" + t(40))
    fp("HN-SEC-032", "lin_api_" + t(30))
    tp("HN-SEC-033", "PMAK-" + t(24, HEX) + "-" + t(34, HEX))
    fp("HN-SEC-033", "PMAK-" + t(24, HEX))
    tp("HN-SEC-034", "pul-" + t(40, HEX))
    fp("HN-SEC-034", "pul-" + t(39, HEX) + "z", "xpul-" + t(40, HEX))
    tp("HN-SEC-035", "pscale_pw_" + t(43, URLSAFE), "pscale_tkn_" + t(43, URLSAFE))
    fp("HN-SEC-035", "pscale_pw_" + t(20))
    tp("HN-SEC-036", "sntryu_" + t(64, HEX))
    fp("HN-SEC-036", "sntryu_" + t(40, HEX))
    tp("HN-SEC-037", "NRAK-" + t(27, UPPER_DIGITS), "NRJS-" + t(19, HEX))
    fp("HN-SEC-037", "NRAK-" + t(10, UPPER_DIGITS))
    tp("HN-SEC-038", "ATATT3" + t(186, URLSAFE))
    fp("HN-SEC-038", "ATATT3" + t(40))
    tp("HN-SEC-039", "ops_eyJ" + f.b64(300).rstrip("="), "A3-" + t(6, UPPER_DIGITS) + "-" + t(11, UPPER_DIGITS) + "-"
       + "-".join(t(5, UPPER_DIGITS) for _ in range(3)))
    fp("HN-SEC-039", "ops_eyJ" + t(40), "A3-ABCDEF-short")
    tp("HN-SEC-040", "AGE-SECRET-KEY-1" + t(58, BECH32))
    fp("HN-SEC-040", "AGE-SECRET-KEY-1" + "Q" * 58, "AGE-SECRET-KEY-1" + t(40, BECH32))
    tp("HN-SEC-041", "ntn_" + t(11, string.digits) + t(35))
    fp("HN-SEC-041", "ntn_12345678901abc")
    tp("HN-SEC-042", "sgp_" + t(16, HEX) + "_" + t(40, HEX), "sgp_local_" + t(40, HEX))
    fp("HN-SEC-042", "sgp_" + t(39, HEX) + "!")
    tp("HN-SEC-043", "squ_" + t(40, HEX), "sqp_" + t(40, HEX))
    fp("HN-SEC-043", "squ_" + t(20, HEX))
    tp("HN-SEC-044", "sk.eyJ1Ijoi" + t(60, URLSAFE) + "." + t(22, URLSAFE), "pk." + t(60, LOWER_DIGITS) + "." + t(22, LOWER_DIGITS))
    fp("HN-SEC-044", "pk.eyJshort.x", "np.sk.linalg")
    tp("HN-SEC-045", "sl." + t(140, URLSAFE))
    fp("HN-SEC-045", "ssl." + t(140, URLSAFE), "sl." + t(40))
    tp("HN-SEC-046", "pat-na1-" + uuid)
    fp("HN-SEC-046", "pat-na1-1234")
    tp("HN-SEC-047", "live_" + t(35, HEX), "test_pub_" + t(31, HEX))
    fp("HN-SEC-047", "test_" + t(20, HEX), "test_some_function_name_here", "token = 'live_" + u(34, HEX) + "'")
    tp("HN-SEC-048", "CCIPAT_" + t(22) + "_" + t(40, HEX), "bkua_" + t(40, HEX))
    fp("HN-SEC-048", "bkua_" + t(20, HEX))
    tp("HN-SEC-049", "sc_" + t(10, LOWER_DIGITS) + "." + t(5, LOWER_DIGITS) + ".acc_" + t(20, LOWER_DIGITS) + "." + f.b64(40).rstrip("="))
    fp("HN-SEC-049", "sc_" + t(10) + ".short")
    tp("HN-SEC-050", "duffel_live_" + t(43, URLSAFE))
    fp("HN-SEC-050", "duffel_live_" + t(20))
    tp("HN-SEC-051", "FLWSECK-" + t(32, HEX) + "-X", "FLWPUBK_TEST-" + t(32, HEX) + "-X")
    fp("HN-SEC-051", "FLWSECK-" + t(10, HEX))
    tp("HN-SEC-052", "ABSK" + f.b64(100).rstrip("="))
    fp("HN-SEC-052", "ABSK" + t(30))
    # the short-term form: the base64 of a presigned bedrock.amazonaws.com URL; the prefix alone (in a scanner's
    # rule table, docs) is none: building hardnut itself was reported critical for its own rule's text
    w = Fakes(seed + 303)
    tp("HN-SEC-052", "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbFdpdGhCZWFyZXJUb2tlbi" + w.b64(600).rstrip("="))
    fp("HN-SEC-052", "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=&%\\-]{0,2000}",
       "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t")
    tp("HN-SEC-054", "https://discord.com/api/webhooks/" + t(18, string.digits) + "/" + t(68, URLSAFE),
       "https://acme.webhook.office.com/webhookb2/" + uuid + "@" + uuid + "/IncomingWebhook/" + t(32, HEX) + "/" + uuid)
    fp("HN-SEC-054", "https://discord.com/api/webhooks/123/short")
    tp("HN-SEC-056", "AKCp" + t(69), "cmVmdGtu" + t(56))
    fp("HN-SEC-056", "AKCp" + t(20) + "x" * 20)
    tp("HN-SEC-057", "<password>{AQAAABAAAA" + f.b64(48) + "}</password>")
    fp("HN-SEC-057", "{AQAAABAAAAshort}")
    tp("HN-SEC-058", "client_secret=" + t(3, ALNUM) + "8Q~" + t(34, ALNUM + "_~.-"))
    fp("HN-SEC-058", "x8Q~short")
    tp("HN-SEC-059", "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=" + f.b64(32),
       "https://x.blob.core.windows.net/c?sv=2022-11-02&ss=b&sig=" + f.b64(32).replace("+", "%2B").replace("=", "%3D"))
    fp("HN-SEC-059", "SharedAccessKey=short")
    tp("HN-SEC-060", t(10, string.digits) + ":AA" + t(33, URLSAFE))
    fp("HN-SEC-060", "12345:AA" + t(10))
    tp("HN-SEC-061", t(32, HEX) + "-us" + t(2, string.digits))
    fp("HN-SEC-061", t(20, HEX) + "-us12", "x-user-agent-us")
    tp("HN-SEC-063", "EAAA" + t(60, URLSAFE), "sq0csp-" + t(43, URLSAFE))
    fp("HN-SEC-063", "EAAA" + t(20))
    tp("HN-SEC-064", "pplx-" + t(48), "gsk_" + t(52), "nvapi-" + t(64, URLSAFE))
    fp("HN-SEC-064", "pplx-" + t(20), "gsk_" + t(30))
    tp("HN-SEC-065", "rubygems_" + t(48, HEX), "oy2" + t(43, LOWER_DIGITS), "CLOJARS_" + t(60))
    fp("HN-SEC-065", "rubygems_" + t(20, HEX), "toy2" + t(43, LOWER_DIGITS))
    tp("HN-SEC-066", "xkeysib-" + t(64, HEX) + "-" + t(16), "LTAI" + t(20), "shippo_live_" + t(40, HEX))
    fp("HN-SEC-066", "LTAI" + t(10), "video_box.ico-" + t(32) + ".png")
    tp("HN-SEC-067", f'heroku_api_key = "{uuid}"', "DISCORD_BOT_TOKEN: " + t(59, URLSAFE), 'sonar.login=' + t(40, HEX),
       f'asanaToken = "{t(16, "123456789")}"')
    fp("HN-SEC-067", 'interpolation="linear", skip_nulls=True', "heroku_region = eu-west-1-" + t(8),
       'twilio_api_key = "SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
       f'braintree_key = "{u(20, HEX)}q{u(19, HEX)}"',  # hex with a stray letter: mangled, not issued
       f"azureFunctionkey: {u(10)}={u(13)}!{u(20)}",  # no type annotation; the value runs on past '!'
       f'mailgun_api_key = "{u(12)}?{u(20)}"')  # '?' is in no issued key's alphabet
    tp("HN-SEC-068", "AAAAAAAAAAAAAAAAAAAAA" + t(80, ALNUM + "%"))
    fp("HN-SEC-068", "A" * 60)
    tp("HN-SEC-069", "curl -u deploy:" + t(14) + " https://api.internal/x", "curl --user 'ci:" + t(16) + "' https://x")
    tp("HN-SEC-069", "curl --user ops@example.org:" + u(14) + " https://api.internal/x",  # an e-mail as user
       "curl -X POST https://api.internal/x \\\n  -H 'Accept: */*' \\\n  -u deploy:" + u(16),  # continued lines
       "curl --user deploy:'" + u(16) + "' -iX PATCH https://x")  # only the password quoted
    fp("HN-SEC-069", "curl -u user:password https://x", "curl -u $USER:$PASS https://x",
       "curl -u <user:password> https://x", "curl --user neo4j:[PASSWORD] https://x")
    value = t(24) + "9"
    tp("HN-SEC-100", f'password = "{t(18, ALNUM + "#%&!")}"', f'"client_secret": "{t(32)}"',
       f'var serviceToken string = "{value}"', f'$apiToken .= "{value}"', f'API_TOKEN ::= "{value}"',
       f'API_TOKEN ?= "{value}"', f'System.setProperty("X_API_TOKEN", "{value}")', f"db_password: |\n  {value}\n",
       f"[DEBUG] Using Key={value}", f'val authToken: String = "{value}"', f'password = "{t(20, string.ascii_letters)}"',
       f'api_key = "{t(10)}test{t(14)}"', f"secret = {uuid}")
    # next to a service's name (policy/provider-key-formats.json): a value in its key format stays reported;
    # so does a password (no issuer's format), and a service's name inside a longer word names nothing
    tp("HN-SEC-100", f"[INFO] Sending request to the abyssale API\n[DEBUG] Using Key={v(40)}",
       f"lokalisetoken = '{v(40, LOWER_DIGITS)}'", f"# meraki dashboard\nMERAKI_API_KEY={v(40, HEX)}",
       f"[INFO] connecting to the algolia API\nDB_PASSWORD={v(18)}7",
       f"# pythagoras\napi_key = '{v(33)}'")
    fp("HN-SEC-100", "password = get_password()", "password=%s", "Authorization: %.*s", "private_key = Ed25519PublicKey",
       "key: _SSHFormatEd25519", "x = SomeName", "secret_key = cryptography/hazmat/primitives/serialization/ssh.py",
       "password = rest-of-my-password", 'token = "import-token-5ott6"', "_credentials: _cygrpc.ChannelCredentials",
       "btype='bandpass', analog=True", "data_key = _mm512_xor_si512", 'char *key = "__f2py_cb_#name#";',
       "key = 'arrow-datasets/nyc-taxi/year=2019/month=6/part-0.parquet'",
       '"NextToken": "' + t(40) + '"', "cache_key = " + t(24), '"Password": "SomeKindOfPassword123!@#"',
       '"LocalConsolePassword": "PassWordMustBeAtLeast6Chars."',
       '"ARN": "arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTestDatabaseSecret-a1b2c3"',
       f"[DEBUG] Using KEY={u(4)}#{u(4)}$%{u(22)}",  # characters no issued key is made of
       f'req.Header.Set("X-ApiKey", "{u(6, HEX)}h{u(25, HEX)}")',  # hex key with a stray letter
       f"[DEBUG] Using Key={u(8, HEX)}-{u(4, HEX)}-{u(4, HEX)}-{u(4, HEX)}-{u(11, HEX)}G",
       'client_secret = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"',  # letters and digits taking turns, counting up
       'const contentTypeToken string = "Content-Type"',  # an HTTP header's name
       "x-amz-security-token:%s\n\0\0Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request",
       "Authorization: GOOG4-RSA-SHA256 Credential=",  # a signed request's scheme (algorithm), not a key
       "def importPkcs12(device: PySide6.QtCore.QIODevice, key: PySide6.QtNetwork.QSslKey | int, /)",  # a type
       f"client_secret = '{u(6, HEX)}.tenant-{u(4, LOWER_DIGITS)}.example-idp.com'",  # a host name
       "AZURE_BLOB_SAS_TOKEN=st=2025-03-04T07:24:52Z&se=2025-04-04T15:24:52Z&spr=https&sv=2022-11-02&sr=c",
       '"license_key": "aardvark-py-2014"', '"spdx_license_key": "LicenseRef-scancode-bsd-new-tcpdump"',
       '"spdx_license_key": "CC-BY-NC-SA-3.0-IGO"',  # license identifiers (scancode's index): slugs, not keys
       'MessageBirdToken = "12345678-ABCD-ABCD-ABCD-1234567890AB"',  # counting up: typed by hand
       f'ORG_SECRET=zyxwvutsrqponmlkji9876543210{u(4, HEX)}', f'"token": "aBcDeFgH{u(56)}"')
    tp("HN-SEC-103", f"AzureStorageCleanup.exe -storagename acct -storagekey {f.b64(64)} -container x",
       f"deploy --api-key={value} --region eu", f"mysqladmin --password '{t(18)}7!' status")
    fp("HN-SEC-103", "--password PASSWORD", "--token <token>", "--password=$DB_PASSWORD", "  --secret-file FILE_PATH_HERE")
    tp("HN-SEC-101", f"<password>{value}</password>", f"<apiToken>\n    {value}\n</apiToken>")
    fp("HN-SEC-101", "<password>${DB_PASSWORD}</password>", "<token>tokenValue</token>")
    tp("HN-SEC-102", f'<add key="ClearTextPassword" value="{value}"/>', f'<entry name="apiToken" value="{value}" />')
    fp("HN-SEC-102", '<add key="ClearTextPassword" value="%NUGET_PASSWORD%"/>', '<add key="PasswordLength" value="12345678"/>')
    return rows


def corpus_rows(seed: int = 5) -> list[dict]:
    """The samples as rows for scripts/secrets_recall.py --own."""
    return [{"source": "hardnut", "rule": r, "kind": k, "text": x} for r, k, x in samples(seed)]


def one_true_sample_per_rule(seed: int = 5) -> dict[str, str]:
    out: dict[str, str] = {}
    for rule, kind, text in samples(seed):
        if kind == "tp":
            out.setdefault(rule, text)
    return out
