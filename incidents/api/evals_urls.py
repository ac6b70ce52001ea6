from django.urls import path

from .evals import EvalCasesView, EvalRunsView

urlpatterns = [
    path("evals/runs", EvalRunsView.as_view(), name="api-eval-runs"),
    path("evals/cases", EvalCasesView.as_view(), name="api-eval-cases"),
]
