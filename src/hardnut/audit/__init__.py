"""`hardnut audit`: known vulnerabilities and outdated parts in what an artifact ships.

- `osv`: OSV advisory records (zip exports, JSON/YAML folder trees) and PEP 440 range evaluation;
- `online`: the OSV API (querybatch, then the records) with timeout, retries and an on-disk cache;
- `inventory`: what ships (distributions, the Nuitka that built it, CPython, native libraries), read
  from Nuitka's report XML, `*.dist-info/METADATA`, a hardnut SBOM, or the binaries themselves;
- `natives`: native libraries recognised from sonames and version strings (the table is data:
  `hardnut/policy/native-libraries.json`);
- `engine`: inventory + advisories + ignores -> matches. The rules live in `hardnut.checks.audit`.
"""
