from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        from .notices import action_log_notice_enqueue
        from .signals import action_log_notice

        action_log_notice.connect(action_log_notice_enqueue, dispatch_uid="fireline-action-log-notices")
