urlpatterns = []  # investigation pages (replay export, what-changed chart) are added here
