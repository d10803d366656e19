"""Cloud settings of the planted sample (FAKE credentials, random text)."""

AWS_ACCESS_KEY_ID = "AKIA37HPOLVISB47CTNL"
AWS_SECRET_ACCESS_KEY = "mDwe1tHBNG/oLrM/4m76ARO55EF8WX9+WfRRb7yj"
GOOGLE_MAPS_KEY = "AIzaMltb8auBNmdHTJ2vUb335elQsqfYM89I1z7"
AZURE_STORAGE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=https;AccountName=plantedfakestore;"
    "AccountKey=lKCCzNd3RnFlpQuYslEw1glvD/O8q+tpbxcVwDqeyaqTPOiL6Qg3p9MyVg70pmUvExD7BzmoeUKDOASrGjZa4g==;EndpointSuffix=core.windows.net"
)
STRIPE_KEY = "sk_live_R96AzXTnd6KNQ9tAjsfDuvRksrc7IT3cKqbeze8E"
PAYMENT_SETTINGS = {"currency": "eur", "restricted_key": "rk_live_Y5ArS8RcKiFVBa8KgfvJ0HkwFAnUpV1hPZp5r7ec"}
TWILIO_API_KEY = "SKfa4d1b6d898b4fd9088862881e8472d9"
TWILIO_AUTH_TOKEN = "6b46edb48de271d5770391817ace9e55"


def connect_db(dsn="postgresql://svc_reporting:2fwSeT8T0KUpoE2T@db.planted.invalid:5432/reports"):
    """Pretend to open a database connection."""
    return dsn.split("@")[-1]
