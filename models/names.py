"""The names savedesk's two models are registered under (the model registry's keys, in MLflow and in manifests).

A light module on purpose: commands, flows and reports name the models without importing MLflow.
"""

CHURN_MODEL = "savedesk-churn"
"""The churn model: who will ask to cancel in the horizon."""
SAVE_MODEL = "savedesk-save"
"""The save model: given a request and an offer, will the account stay."""
