urlpatterns = []  # the user report endpoint is added here
