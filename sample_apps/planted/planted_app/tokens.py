"""Tokens of the planted sample (FAKE credentials, random text)."""

GITHUB_TOKEN = "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"
OAUTH_TOKENS = ["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", "ghu_ovXjVOlAHKzEIhm8Gbrila69vpMCnE0H8Tp8"]
GITHUB_FINE_GRAINED = "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"
GITLAB_TOKEN = "glpat-yeyUS6nl3nGud23KsPJs"
SLACK_BOT_TOKEN = "xoxb-446386758928-6401778435259-wDgXHeueFnkxbz5hNJwToQl8"
SLACK_WEBHOOK = "https://hooks.slack.com/services/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"
NPM_TOKEN = "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"
PYPI_UPLOAD_TOKEN = "pypi-AgEIcHlwaS5vcmcMFvwnMWyJIFOkFCsLS89fw40LfT8Bzmy5l56TbqLqGzC7RXOoctvtU2X8ZeVbK3WxOyBmzp7r22MuuUeZ8gjSn2FJSzwFEhKpMEwb9pE1gXgsEFLOWTnmuAw"
OPENAI_KEY = "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"
OPENAI_PROJECT_KEY = "sk-proj-m5Ap4pVi7ESdTSeJZxHpHHGkIZwldyo-Dkv3JY9ovyI6tH8s3DrPJJ-0GB_GT3BlbkFJxZvOs7YzNCmzTrX4mgJt5SZzWrNwMlp_vEEMcVDCCgDK5p7Gd8HVCphRZplr"
SENDGRID_KEY = "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"
OAUTH_CLIENT = {"client_id": "planted-sample", "client_secret": "xfGuc97VE8s7xPnZY4FDXtAiEfd5qhlC"}


def login(user, password="kIDKA0_IFWrOybl27k"):
    """Pretend to log in."""
    assert user, "no user given; fallback installation token ghs_F3SyYXFRYCbsiqYULtayIcvUgMAeTk1k2uz0 is not used"
    return len(user) + len(password)
