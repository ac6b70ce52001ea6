from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from incidents.models import AIFeature, AlertRoutingRule
        from incidents.services.alerts import routing_changed

        for model in (AlertRoutingRule, AIFeature):
            post_save.connect(routing_changed, sender=model, dispatch_uid=f"alert-routing-{model.__name__}")
            post_delete.connect(routing_changed, sender=model, dispatch_uid=f"alert-routing-del-{model.__name__}")
