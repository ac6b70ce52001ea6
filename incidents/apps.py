from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from incidents.api.auth import token_changed
        from incidents.models import AIFeature, AlertRoutingRule, ApiToken
        from incidents.services.alerts import routing_changed

        for model in (AlertRoutingRule, AIFeature):
            post_save.connect(routing_changed, sender=model, dispatch_uid=f"alert-routing-{model.__name__}")
            post_delete.connect(routing_changed, sender=model, dispatch_uid=f"alert-routing-del-{model.__name__}")
        # a token saved (revoked) or deleted any other way than the admin's revoke action is forgotten too
        post_save.connect(token_changed, sender=ApiToken, dispatch_uid="api-token-saved")
        post_delete.connect(token_changed, sender=ApiToken, dispatch_uid="api-token-deleted")
