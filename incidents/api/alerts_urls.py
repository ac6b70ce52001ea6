urlpatterns = []  # the alert intake endpoints are added here
