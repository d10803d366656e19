"""fetch: print a URL's status and headers, with settings from a .env file (a third-party-heavy sample)."""
import sys

import click
import dotenv
import requests


@click.command()
@click.argument("url", required=False)
@click.option("--check", is_flag=True, help="self-test: the bundled packages import and certifi's bundle is there")
def main(url, check):
    if check:
        import certifi
        import os
        ok = os.path.isfile(certifi.where())
        click.echo(f"requests {requests.__version__} certifi-bundle={'yes' if ok else 'no'}")
        sys.exit(0 if ok else 1)
    settings = dotenv.dotenv_values()
    timeout = float(settings.get("FETCH_TIMEOUT", "10"))
    r = requests.get(url or "https://example.org", timeout=timeout)
    click.echo(f"{r.status_code} {r.reason}")
    for k, v in r.headers.items():
        click.echo(f"{k}: {v}")


if __name__ == "__main__":
    main()
