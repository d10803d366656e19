"""Entry point of the planted-secrets sample: every credential in it is FAKE."""

from planted_app import VERSION, cloud, keys, tokens


def main():
    names = [n for mod in (cloud, keys, tokens) for n in vars(mod) if n.isupper()]
    print("planted sample", VERSION, "with", len(names), "settings")
    print(cloud.connect_db(), tokens.login("demo"))


if __name__ == "__main__":
    main()
