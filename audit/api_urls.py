urlpatterns = []  # the audit record ingest endpoint is added here
